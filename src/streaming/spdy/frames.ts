// SPDY/3.1 frame encoding and incremental decoding (draft-mbelshe-httpbis-spdy-00
// section 2.2 and 2.6, with the 3.1 session-level WINDOW_UPDATE on stream 0).
// Header blocks are carried here still compressed; zlib.ts handles them.

export const SPDY_VERSION = 3;

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;
export const FLAG_SETTINGS_CLEAR = 0x01;

export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

export const Setting = {
  UPLOAD_BANDWIDTH: 1,
  DOWNLOAD_BANDWIDTH: 2,
  ROUND_TRIP_TIME: 3,
  MAX_CONCURRENT_STREAMS: 4,
  CURRENT_CWND: 5,
  DOWNLOAD_RETRANS_RATE: 6,
  INITIAL_WINDOW_SIZE: 7,
  CLIENT_CERTIFICATE_VECTOR_SIZE: 8,
} as const;

/** Frame lengths are 24-bit. */
export const MAX_FRAME_PAYLOAD = 0xffffff;
const HEADER = 8;

export type Frame =
  | { type: 'data'; streamId: number; fin: boolean; data: Buffer }
  | { type: 'syn_stream'; streamId: number; associatedId: number; priority: number; slot: number; fin: boolean; unidirectional: boolean; headerBlock: Buffer }
  | { type: 'syn_reply'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; clear: boolean; entries: SettingEntry[] }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'headers'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'window_update'; streamId: number; delta: number }
  /** Control frame of a type this version does not define (CREDENTIAL included): must be ignored. */
  | { type: 'unknown'; frameType: number; flags: number; payload: Buffer };

export interface SettingEntry {
  id: number;
  value: number;
  flags: number;
}

/** A malformed frame: the session answers with GOAWAY(PROTOCOL_ERROR) or RST_STREAM. */
export class SpdyProtocolError extends Error {
  constructor(
    message: string,
    /** Set when the error concerns one stream only (answer RST_STREAM). */
    readonly streamId?: number,
    readonly status: number = RstStatus.PROTOCOL_ERROR,
  ) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}

const ID_MASK = 0x7fffffff;

function control(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new RangeError(`frame payload ${payload.length} exceeds 24 bits`);
  const b = Buffer.allocUnsafe(HEADER + payload.length);
  b.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt32BE(((flags & 0xff) << 24 | payload.length) >>> 0, 4);
  payload.copy(b, HEADER);
  return b;
}

function u32(...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

export function encodeFrame(f: Frame): Buffer {
  switch (f.type) {
    case 'data': {
      if (f.data.length > MAX_FRAME_PAYLOAD) throw new RangeError('data frame too large');
      const b = Buffer.allocUnsafe(HEADER + f.data.length);
      b.writeUInt32BE(f.streamId & ID_MASK, 0);
      b.writeUInt32BE(((f.fin ? FLAG_FIN : 0) << 24 | f.data.length) >>> 0, 4);
      f.data.copy(b, HEADER);
      return b;
    }
    case 'syn_stream': {
      const fixed = Buffer.allocUnsafe(10);
      fixed.writeUInt32BE(f.streamId & ID_MASK, 0);
      fixed.writeUInt32BE(f.associatedId & ID_MASK, 4);
      fixed[8] = (f.priority & 0x7) << 5;
      fixed[9] = f.slot & 0xff;
      const flags = (f.fin ? FLAG_FIN : 0) | (f.unidirectional ? FLAG_UNIDIRECTIONAL : 0);
      return control(FrameType.SYN_STREAM, flags, Buffer.concat([fixed, f.headerBlock]));
    }
    case 'syn_reply':
      return control(FrameType.SYN_REPLY, f.fin ? FLAG_FIN : 0, Buffer.concat([u32(f.streamId & ID_MASK), f.headerBlock]));
    case 'headers':
      return control(FrameType.HEADERS, f.fin ? FLAG_FIN : 0, Buffer.concat([u32(f.streamId & ID_MASK), f.headerBlock]));
    case 'rst_stream':
      return control(FrameType.RST_STREAM, 0, u32(f.streamId & ID_MASK, f.status));
    case 'settings': {
      const p = Buffer.allocUnsafe(4 + 8 * f.entries.length);
      p.writeUInt32BE(f.entries.length, 0);
      f.entries.forEach((e, i) => {
        p.writeUInt32BE((((e.flags & 0xff) << 24) | (e.id & 0xffffff)) >>> 0, 4 + i * 8);
        p.writeUInt32BE(e.value >>> 0, 8 + i * 8);
      });
      return control(FrameType.SETTINGS, f.clear ? FLAG_SETTINGS_CLEAR : 0, p);
    }
    case 'ping':
      return control(FrameType.PING, 0, u32(f.id));
    case 'goaway':
      return control(FrameType.GOAWAY, 0, u32(f.lastGoodStreamId & ID_MASK, f.status));
    case 'window_update':
      return control(FrameType.WINDOW_UPDATE, 0, u32(f.streamId & ID_MASK, f.delta & ID_MASK));
    case 'unknown':
      return control(f.frameType, f.flags, f.payload);
  }
}

function need(payload: Buffer, n: number, what: string, exact = true): void {
  if (exact ? payload.length !== n : payload.length < n) {
    throw new SpdyProtocolError(`${what} frame has length ${payload.length}, expected ${exact ? '' : 'at least '}${n}`);
  }
}

function decodeControl(type: number, flags: number, p: Buffer): Frame {
  switch (type) {
    case FrameType.SYN_STREAM: {
      need(p, 10, 'SYN_STREAM', false);
      return {
        type: 'syn_stream', streamId: p.readUInt32BE(0) & ID_MASK, associatedId: p.readUInt32BE(4) & ID_MASK,
        priority: p[8]! >> 5, slot: p[9]!, fin: (flags & FLAG_FIN) !== 0, unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        headerBlock: p.subarray(10),
      };
    }
    case FrameType.SYN_REPLY:
      need(p, 4, 'SYN_REPLY', false);
      return { type: 'syn_reply', streamId: p.readUInt32BE(0) & ID_MASK, fin: (flags & FLAG_FIN) !== 0, headerBlock: p.subarray(4) };
    case FrameType.HEADERS:
      need(p, 4, 'HEADERS', false);
      return { type: 'headers', streamId: p.readUInt32BE(0) & ID_MASK, fin: (flags & FLAG_FIN) !== 0, headerBlock: p.subarray(4) };
    case FrameType.RST_STREAM:
      need(p, 8, 'RST_STREAM');
      return { type: 'rst_stream', streamId: p.readUInt32BE(0) & ID_MASK, status: p.readUInt32BE(4) };
    case FrameType.SETTINGS: {
      need(p, 4, 'SETTINGS', false);
      const n = p.readUInt32BE(0);
      if (p.length !== 4 + 8 * n) throw new SpdyProtocolError(`SETTINGS frame of length ${p.length} cannot hold ${n} entries`);
      const entries: SettingEntry[] = [];
      for (let i = 0; i < n; i++) {
        const fi = p.readUInt32BE(4 + i * 8);
        entries.push({ flags: fi >>> 24, id: fi & 0xffffff, value: p.readUInt32BE(8 + i * 8) });
      }
      return { type: 'settings', clear: (flags & FLAG_SETTINGS_CLEAR) !== 0, entries };
    }
    case FrameType.PING:
      need(p, 4, 'PING');
      return { type: 'ping', id: p.readUInt32BE(0) };
    case FrameType.GOAWAY:
      need(p, 8, 'GOAWAY');
      return { type: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & ID_MASK, status: p.readUInt32BE(4) };
    case FrameType.WINDOW_UPDATE: {
      need(p, 8, 'WINDOW_UPDATE');
      const streamId = p.readUInt32BE(0) & ID_MASK;
      const delta = p.readUInt32BE(4) & ID_MASK;
      if (delta === 0) throw new SpdyProtocolError('WINDOW_UPDATE with a delta of 0', streamId || undefined);
      return { type: 'window_update', streamId, delta };
    }
    default:
      return { type: 'unknown', frameType: type, flags, payload: p };
  }
}

/**
 * Incremental decoder: feed it bytes as they arrive, take whole frames out.
 * Frames larger than `maxPayload` are refused before they are buffered.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxPayload = MAX_FRAME_PAYLOAD) {}

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    let off = 0;
    while (this.buf.length - off >= HEADER) {
      const w0 = this.buf.readUInt32BE(off);
      const w1 = this.buf.readUInt32BE(off + 4);
      const length = w1 & 0xffffff;
      const flags = w1 >>> 24;
      const isControl = (w0 & 0x80000000) !== 0;
      if (length > this.maxPayload) {
        throw new SpdyProtocolError(`frame of ${length} bytes exceeds the limit of ${this.maxPayload}`, isControl ? undefined : w0 & ID_MASK, RstStatus.FRAME_TOO_LARGE);
      }
      if (isControl) {
        const version = (w0 >>> 16) & 0x7fff;
        if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`, undefined, RstStatus.UNSUPPORTED_VERSION);
      }
      if (this.buf.length - off < HEADER + length) break;
      // A view, not a copy: the buffer is replaced, never written, once frames are taken out.
      const payload = this.buf.subarray(off + HEADER, off + HEADER + length);
      off += HEADER + length;
      if (isControl) out.push(decodeControl(w0 & 0xffff, flags, payload));
      else out.push({ type: 'data', streamId: w0 & ID_MASK, fin: (flags & FLAG_FIN) !== 0, data: payload });
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    return out;
  }

  /** Bytes received but not yet forming a whole frame. */
  get pending(): number {
    return this.buf.length;
  }
}

/** Name/value pairs of a header block; several values of one name are joined with NUL. */
export type SpdyHeaders = Record<string, string>;

/** The uncompressed header block: 32-bit count, then 32-bit length-prefixed names and values. */
export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [u32(entries.length)];
  for (const [name, value] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(value, 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(b: Buffer, streamId?: number): SpdyHeaders {
  const fail = (m: string): never => {
    throw new SpdyProtocolError(`header block: ${m}`, streamId);
  };
  if (b.length < 4) fail('truncated');
  const n = b.readUInt32BE(0);
  let off = 4;
  const out: SpdyHeaders = {};
  const take = (): string => {
    if (b.length - off < 4) fail('truncated');
    const len = b.readUInt32BE(off);
    off += 4;
    if (b.length - off < len) fail('truncated');
    const s = b.subarray(off, off + len).toString('utf8');
    off += len;
    return s;
  };
  for (let i = 0; i < n; i++) {
    const name = take();
    const value = take();
    if (name.length === 0) fail('empty header name');
    if (name !== name.toLowerCase()) fail(`header name "${name}" is not lower case`);
    if (Object.prototype.hasOwnProperty.call(out, name)) fail(`duplicate header "${name}"`);
    out[name] = value;
  }
  if (off !== b.length) fail('trailing bytes');
  return out;
}
