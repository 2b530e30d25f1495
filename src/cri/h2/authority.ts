// Any :authority on the CRI socket.
//
// grpc-go before 1.52 (kubelet's CRI client until Kubernetes 1.30, crictl and
// critest up to cri-tools 1.30) dials a unix socket and sends the socket's
// path as :authority, e.g. "/run/berth/berth.sock". Node's HTTP/2 layer
// (nghttp2) holds a request's :authority and host to RFC 3986's authority
// characters, and an empty one is refused too: it resets the stream
// (PROTOCOL_ERROR) before grpc-js sees it, with no option to relax that.
// containerd and CRI-O accept any authority; on a unix socket it names
// nothing anyway.
//
// So the CRI socket is served through this layer. It follows the client's
// HTTP/2 frames and decodes each header block with its own copy of the
// client's HPACK table. Blocks pass unchanged until one needs a change; from
// then on, every block of the connection is written anew with literals that
// do not touch the server's dynamic table (the client's indexes refer to
// entries the server may never have seen), and in requests an authority's
// disallowed octets are percent-encoded, an empty one becomes "localhost",
// and one is added when neither :authority nor host is there. Frames other
// than HEADERS and CONTINUATION, and the whole server-to-client direction,
// pass through untouched.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { HpackReader, HpackError, encodeLiteral, type HeaderField } from './hpack.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
const TYPE_HEADERS = 0x1;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** Frames this layer writes stay within the smallest SETTINGS_MAX_FRAME_SIZE a server can set. */
const MAX_FRAME_PAYLOAD = 16_384;
/** A header block (all its frames) larger than this is not read; the connection is cut. */
export const MAX_HEADER_BLOCK = 1 << 20;

// RFC 3986 authority characters as nghttp2 checks them: unreserved,
// sub-delims, ':', '@', '[', ']' and '%'.
const AUTHORITY_OCTET = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@[]%") AUTHORITY_OCTET[c.charCodeAt(0)] = 1;
const LOCALHOST = Buffer.from('localhost');

/**
 * An authority the server takes: octets it may not hold percent-encoded, an
 * empty one "localhost"; undefined when the value is fine as it is.
 */
export function acceptableAuthority(value: Uint8Array): Buffer | undefined {
  if (value.length === 0) return LOCALHOST;
  if (value.every((o) => AUTHORITY_OCTET[o] === 1)) return undefined;
  const out: number[] = [];
  for (const o of value) {
    if (AUTHORITY_OCTET[o]) out.push(o);
    else out.push(0x25, ...Buffer.from(o.toString(16).toUpperCase().padStart(2, '0'), 'latin1'));
  }
  return Buffer.from(out);
}

interface PendingBlock {
  streamId: number;
  /** Flags of the HEADERS frame that opened the block. */
  flags: number;
  priority?: Buffer;
  fragments: Buffer[];
  size: number;
  /** The frames as received, forwarded unchanged when nothing needs rewriting. */
  raw: Buffer[];
}

/**
 * The client-to-server byte stream of one HTTP/2 connection, rewritten as the
 * file comment says. Feed it what the client sent; it returns what the server
 * should read. A stream it cannot follow (not HTTP/2, a malformed frame or
 * header block) is passed on unchanged from there, for the server's HTTP/2
 * layer to refuse.
 */
export class RequestAuthorityRewriter {
  private prefaceLeft = PREFACE.length;
  private buffered: Buffer = Buffer.alloc(0);
  /** Payload octets of a frame that passes through, still to come. */
  private passing = 0;
  private block?: PendingBlock;
  private opaque = false;
  private readonly hpack = new HpackReader();
  /** Set once a block needed a change: every later block is written anew too. */
  private rewriting = false;
  /** Requests whose authority was changed (for tests). */
  rewritten = 0;

  push(chunk: Buffer): Buffer[] {
    if (this.opaque) return [chunk];
    const out: Buffer[] = [];
    let data = chunk;
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, data.length);
      const at = PREFACE.length - this.prefaceLeft;
      if (!data.subarray(0, n).equals(PREFACE.subarray(at, at + n))) return this.giveUp(out, data);
      out.push(data.subarray(0, n));
      this.prefaceLeft -= n;
      data = data.subarray(n);
    }
    for (;;) {
      if (this.passing > 0 && this.buffered.length === 0) {
        const n = Math.min(this.passing, data.length);
        if (n > 0) out.push(data.subarray(0, n));
        this.passing -= n;
        data = data.subarray(n);
        if (this.passing > 0) return out;
      }
      if (data.length) {
        this.buffered = this.buffered.length ? Buffer.concat([this.buffered, data]) : data;
        data = Buffer.alloc(0);
      }
      const buf = this.buffered;
      if (buf.length < FRAME_HEADER) return out;
      const length = buf.readUIntBE(0, 3);
      const type = buf[3]!;
      if (type !== TYPE_HEADERS && type !== TYPE_CONTINUATION) {
        if (this.block) return this.giveUp(out, buf);
        const n = Math.min(buf.length, FRAME_HEADER + length);
        out.push(buf.subarray(0, n));
        this.passing = FRAME_HEADER + length - n;
        this.buffered = Buffer.alloc(0);
        data = buf.subarray(n);
        continue;
      }
      if (length > MAX_HEADER_BLOCK) return this.giveUp(out, buf);
      if (buf.length < FRAME_HEADER + length) return out;
      const frame = buf.subarray(0, FRAME_HEADER + length);
      this.buffered = buf.subarray(FRAME_HEADER + length);
      if (!this.headerFrame(frame, out)) return this.giveUp(out, this.buffered);
    }
  }

  /** Takes one HEADERS or CONTINUATION frame; false when the stream can no longer be followed. */
  private headerFrame(frame: Buffer, out: Buffer[]): boolean {
    const type = frame[3]!;
    const flags = frame[4]!;
    const streamId = frame.readUInt32BE(5) & 0x7fffffff;
    const payload = frame.subarray(FRAME_HEADER);
    if (type === TYPE_HEADERS) {
      if (this.block) {
        out.push(...this.block.raw);
        this.block = undefined;
        out.push(frame);
        return false;
      }
      let start = 0;
      let end = payload.length;
      if (flags & FLAG_PADDED) {
        if (payload.length < 1) return this.passRaw(out, frame);
        end -= payload[0]!;
        start = 1;
      }
      let priority: Buffer | undefined;
      if (flags & FLAG_PRIORITY) {
        priority = payload.subarray(start, start + 5);
        start += 5;
      }
      if (end < start) return this.passRaw(out, frame);
      this.block = { streamId, flags, priority, fragments: [payload.subarray(start, end)], size: end - start, raw: [frame] };
    } else {
      const b = this.block;
      if (!b || b.streamId !== streamId) {
        if (b) out.push(...b.raw);
        this.block = undefined;
        out.push(frame);
        return false;
      }
      b.fragments.push(payload);
      b.raw.push(frame);
      b.size += payload.length;
      if (b.size > MAX_HEADER_BLOCK) {
        out.push(...b.raw);
        this.block = undefined;
        return false;
      }
    }
    if (!(flags & FLAG_END_HEADERS)) return true;
    const b = this.block!;
    this.block = undefined;
    const block = b.fragments.length === 1 ? b.fragments[0]! : Buffer.concat(b.fragments);
    let fields: HeaderField[];
    try {
      fields = this.hpack.read(block);
    } catch (err) {
      if (!(err instanceof HpackError)) throw err;
      out.push(...b.raw);
      return false;
    }
    const changed = withAcceptableAuthority(fields);
    if (changed) this.rewritten++;
    if (!changed && !this.rewriting) {
      out.push(...b.raw);
      return true;
    }
    this.rewriting = true;
    out.push(...framesOf(b, Buffer.concat((changed ?? fields).map(encodeLiteral))));
    return true;
  }

  private passRaw(out: Buffer[], frame: Buffer): boolean {
    out.push(frame);
    return false;
  }

  private giveUp(out: Buffer[], rest: Buffer): Buffer[] {
    this.opaque = true;
    if (this.block) out.push(...this.block.raw);
    this.block = undefined;
    if (rest.length) out.push(rest);
    this.buffered = Buffer.alloc(0);
    return out;
  }
}

/** The fields with authorities made acceptable, or undefined when they need no change. */
function withAcceptableAuthority(fields: HeaderField[]): HeaderField[] | undefined {
  let out: HeaderField[] | undefined;
  let hasAuthority = false;
  let isRequest = false;
  fields.forEach((f, i) => {
    if (f.name === ':method') isRequest = true;
    if (f.name !== ':authority' && f.name !== 'host') return;
    hasAuthority = true;
    const value = acceptableAuthority(f.value);
    if (!value) return;
    out ??= [...fields];
    out[i] = { ...f, value };
  });
  // Only requests carry :method; trailers need no authority. Pseudo-header
  // fields may come in any order among themselves, so first is fine.
  if (isRequest && !hasAuthority) return [{ name: ':authority', value: LOCALHOST, neverIndexed: false }, ...(out ?? fields)];
  return out;
}

/** HEADERS (and CONTINUATION frames) carrying a rewritten block, without padding. */
function framesOf(b: PendingBlock, block: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  const prefix = b.priority ?? Buffer.alloc(0);
  let offset = 0;
  let first = true;
  do {
    const room = MAX_FRAME_PAYLOAD - (first ? prefix.length : 0);
    const piece = block.subarray(offset, offset + room);
    offset += piece.length;
    const last = offset >= block.length;
    const header = Buffer.alloc(FRAME_HEADER);
    const payloadLength = piece.length + (first ? prefix.length : 0);
    header.writeUIntBE(payloadLength, 0, 3);
    header[3] = first ? TYPE_HEADERS : TYPE_CONTINUATION;
    header[4] = (first ? b.flags & (FLAG_END_STREAM | FLAG_PRIORITY) : 0) | (last ? FLAG_END_HEADERS : 0);
    header.writeUInt32BE(b.streamId, 5);
    frames.push(header);
    if (first && prefix.length) frames.push(prefix);
    frames.push(piece);
    first = false;
  } while (offset < block.length);
  return frames;
}

/**
 * The connection as grpc-js should see it: reads come through the rewriter,
 * writes go straight to the socket, and backpressure follows the socket both
 * ways. (One end of a socket pair in its place, read by Node's HTTP/2 layer
 * natively, measured no cheaper in bench/cri-transport.ts: about 0.1 ms more
 * per call either way.)
 */
export function anyAuthorityConnection(socket: Socket): Duplex {
  const rewriter = new RequestAuthorityRewriter();
  const conn = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    // Node's HTTP/2 layer hands over what it has to send at once (a
    // response's HEADERS, DATA and trailers, corked): one writev for all of
    // them, not a write per frame.
    writev(chunks: { chunk: Buffer }[], callback) {
      socket.cork();
      for (let i = 0; i < chunks.length - 1; i++) socket.write(chunks[i]!.chunk);
      socket.write(chunks[chunks.length - 1]!.chunk, callback);
      socket.uncork();
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(err, callback) {
      socket.destroy();
      callback(err);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    let more = true;
    for (const piece of rewriter.push(chunk)) more = conn.push(piece) && more;
    if (!more) socket.pause();
  });
  socket.on('end', () => conn.push(null));
  socket.on('error', (err) => conn.destroy(err));
  socket.on('close', () => conn.destroy());
  return conn;
}
