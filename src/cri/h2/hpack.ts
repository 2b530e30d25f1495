// HPACK (RFC 7541) as a proxy between a client's encoder and a server's
// decoder needs it: header blocks decoded with a dynamic table kept in step
// with the client's, and header fields written back as literals that leave
// the server's dynamic table alone.
import { huffmanDecode } from './huffman.js';

// Names of the static table (RFC 7541, Appendix A), index 1 first. A literal
// may reuse a static name by index; the values of the static entries matter
// only for indexed fields that name them.
const STATIC_TABLE: [string, string][] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([name], i) => {
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
});

/** Per RFC 7541 section 4.1: an entry's size is its name and value octets plus 32. */
const ENTRY_OVERHEAD = 32;
/** The dynamic table's size until the encoder signals another (SETTINGS_HEADER_TABLE_SIZE's initial value). */
const DEFAULT_TABLE_SIZE = 4096;

export class HpackError extends Error {}

export interface HeaderField {
  /** Names are lower-case ASCII in HTTP/2; kept as latin1 so every octet survives. */
  name: string;
  value: Buffer;
  /** Sent as "never indexed": an intermediary must keep it so. */
  neverIndexed: boolean;
}

interface Entry {
  name: string;
  value: Buffer;
  size: number;
}

/** The decoding side of one connection's header compression: `read` every block in the order sent. */
export class HpackReader {
  private entries: Entry[] = []; // newest first
  private used = 0;
  private max = DEFAULT_TABLE_SIZE;

  /** Decodes a whole header block; throws HpackError when it is malformed. */
  read(block: Uint8Array): HeaderField[] {
    const fields: HeaderField[] = [];
    let pos = 0;
    const integer = (prefixBits: number): number => {
      if (pos >= block.length) throw new HpackError('truncated integer');
      const limit = (1 << prefixBits) - 1;
      let value = block[pos++]! & limit;
      if (value < limit) return value;
      let shift = 0;
      for (;;) {
        if (pos >= block.length) throw new HpackError('truncated integer');
        const b = block[pos++]!;
        value += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (value > 0xffffffff) throw new HpackError('integer overflow');
        if ((b & 0x80) === 0) return value;
      }
    };
    const string = (): Buffer => {
      if (pos >= block.length) throw new HpackError('truncated string');
      const huffman = (block[pos]! & 0x80) !== 0;
      const len = integer(7);
      if (pos + len > block.length) throw new HpackError('truncated string');
      const raw = block.subarray(pos, pos + len);
      pos += len;
      if (!huffman) return Buffer.from(raw);
      const decoded = huffmanDecode(raw);
      if (!decoded) throw new HpackError('invalid Huffman string');
      return decoded;
    };
    const entryAt = (index: number): { name: string; value: Buffer } => {
      if (index <= 0) throw new HpackError('index 0');
      const fixed = STATIC_TABLE[index - 1];
      if (fixed) return { name: fixed[0], value: Buffer.from(fixed[1], 'latin1') };
      const e = this.entries[index - STATIC_TABLE.length - 1];
      if (!e) throw new HpackError(`index ${index} beyond the dynamic table`);
      return e;
    };
    while (pos < block.length) {
      const b = block[pos]!;
      if (b & 0x80) {
        const e = entryAt(integer(7));
        fields.push({ name: e.name, value: e.value, neverIndexed: false });
        continue;
      }
      if ((b & 0xe0) === 0x20) {
        // Whether the size is within what the server allowed is the real
        // decoder's call; the copy follows whatever the encoder says.
        this.max = integer(5);
        this.evict(0);
        continue;
      }
      const incremental = (b & 0xc0) === 0x40;
      const neverIndexed = !incremental && (b & 0xf0) === 0x10;
      const index = integer(incremental ? 6 : 4);
      const name = index === 0 ? string().toString('latin1') : entryAt(index).name;
      const value = string();
      fields.push({ name, value, neverIndexed });
      if (incremental) this.add(name, value);
    }
    return fields;
  }

  private add(name: string, value: Buffer): void {
    const size = Buffer.byteLength(name, 'latin1') + value.length + ENTRY_OVERHEAD;
    this.evict(size);
    // An entry larger than the whole table empties it and is not added (RFC 7541 4.4).
    if (size <= this.max) {
      this.entries.unshift({ name, value, size });
      this.used += size;
    }
  }

  private evict(room: number): void {
    while (this.entries.length && this.used + room > this.max) this.used -= this.entries.pop()!.size;
  }
}

/** An HPACK integer: `first` holds the representation's flag bits above the prefix. */
function encodeInteger(value: number, prefixBits: number, first: number): number[] {
  const limit = (1 << prefixBits) - 1;
  if (value < limit) return [first | value];
  const out = [first | limit];
  let n = value - limit;
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** A raw (not Huffman-coded) string literal. */
export function encodeRawString(value: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(encodeInteger(value.length, 7, 0)), value]);
}

/**
 * A field as a literal without indexing (never indexed when it came so):
 * the receiver's dynamic table is not touched. The name is a static index
 * when the static table has it.
 */
export function encodeLiteral(f: HeaderField): Buffer {
  const flags = f.neverIndexed ? 0x10 : 0x00;
  const index = STATIC_NAME_INDEX.get(f.name);
  const head = index ? Buffer.from(encodeInteger(index, 4, flags)) : Buffer.concat([Buffer.from([flags]), encodeRawString(Buffer.from(f.name, 'latin1'))]);
  return Buffer.concat([head, encodeRawString(f.value)]);
}
