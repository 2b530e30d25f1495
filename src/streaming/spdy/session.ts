// A SPDY/3.1 session over one connection: streams as node Duplexes, header
// compression, PING, GOAWAY, RST_STREAM and flow control.
//
// Flow control: windows start at 64 KiB per stream and for the session
// (3.1's stream 0), data is sent only within the peer's windows, and
// WINDOW_UPDATEs are sent as the reader consumes what it was sent. The
// Kubernetes clients and kubelet (spdystream) speak SPDY/3 framing but never
// send WINDOW_UPDATE and ignore it; holding to windows with them would stall
// every transfer after 64 KiB. So windows are kept in both directions only
// once the peer shows it takes part in flow control, by a SETTINGS frame
// with INITIAL_WINDOW_SIZE or any WINDOW_UPDATE; before that data is sent
// freely and the peer's overruns are not treated as errors.
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  encodeFrame, FrameDecoder, GoAwayStatus, RstStatus, Setting, SpdyProtocolError,
  type Frame, type SpdyHeaders,
} from './frames.js';
import { HeaderCompressor, HeaderDecompressor } from './zlib.js';

export const DEFAULT_WINDOW = 64 * 1024;
/** Largest DATA frame sent; smaller frames keep streams interleaved fairly. */
const MAX_DATA_FRAME = 32 * 1024;

export interface SessionOptions {
  isServer: boolean;
  /** Bytes already read from the connection past the HTTP upgrade. */
  head?: Buffer;
}

interface PendingWrite {
  data: Buffer;
  cb: (err?: Error | null) => void;
}

export class SpdyStream extends Duplex {
  /** The peer's flow-control window for this stream: what we may still send. */
  sendWindow: number;
  /** Our window: what the peer may still send before we acknowledge. */
  recvWindow: number;
  private unacked = 0;
  replied = false;
  localFin = false;
  remoteFin = false;
  resetStatus?: number;
  readonly queue: PendingWrite[] = [];
  finishCb?: (err?: Error | null) => void;

  constructor(
    readonly session: SpdySession,
    readonly id: number,
    /** Headers the opener sent (SYN_STREAM), or the reply's for streams we opened. */
    public headers: SpdyHeaders,
  ) {
    super({ allowHalfOpen: true });
    this.sendWindow = session.peerInitialWindow;
    this.recvWindow = session.localInitialWindow;
  }

  /** Answers a stream the peer opened. */
  reply(headers: SpdyHeaders = {}, fin = false): void {
    if (this.replied || this.resetStatus !== undefined) return;
    this.replied = true;
    this.session.sendHeaders('syn_reply', this.id, headers, fin);
    if (fin) this.session.localFinished(this);
  }

  /** Aborts the stream with RST_STREAM (CANCEL unless told otherwise). */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.resetStatus !== undefined || (this.localFin && this.remoteFin)) return;
    this.resetStatus = status;
    this.session.sendFrame({ type: 'rst_stream', streamId: this.id, status });
    this.session.dropStream(this);
    this.destroy();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.resetStatus !== undefined || this.session.destroyed) {
      cb(new Error(`stream ${this.id} is closed`));
      return;
    }
    this.queue.push({ data: chunk, cb });
    this.session.flush(this);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.resetStatus !== undefined || this.session.destroyed) {
      cb();
      return;
    }
    this.finishCb = cb;
    this.session.flush(this);
  }

  override _read(): void {
    this.acknowledge();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    for (const w of this.queue.splice(0)) w.cb(err ?? new Error(`stream ${this.id} destroyed`));
    if (this.resetStatus === undefined && !(this.localFin && this.remoteFin) && !this.session.destroyed) {
      this.resetStatus = RstStatus.CANCEL;
      this.session.sendFrame({ type: 'rst_stream', streamId: this.id, status: RstStatus.CANCEL });
    }
    this.session.dropStream(this);
    cb(err);
  }

  /** @internal DATA arrived for this stream. */
  receive(data: Buffer, fin: boolean): void {
    if (data.length) {
      this.recvWindow -= data.length;
      this.unacked += data.length;
      if (this.push(data)) this.acknowledge();
    }
    if (fin) {
      this.remoteFin = true;
      this.push(null);
      this.session.maybeDone(this);
    }
  }

  /**
   * Returns bytes the reader took to the peer's windows (stream and session),
   * once half a window piled up, so updates stay rare.
   */
  private acknowledge(): void {
    if (this.remoteFin || this.unacked < this.session.localInitialWindow / 2) return;
    const n = this.unacked;
    this.unacked = 0;
    this.recvWindow += n;
    this.session.sendFrame({ type: 'window_update', streamId: this.id, delta: n });
    this.session.consumed(n);
  }
}

/**
 * Events: 'stream' (SpdyStream opened by the peer), 'goaway' (lastGoodStreamId,
 * status), 'close', 'error' (protocol or connection errors, after which the
 * session is gone).
 */
export class SpdySession extends EventEmitter {
  readonly streams = new Map<number, SpdyStream>();
  /** Initial window for streams, as the peer set it (what we may send). */
  peerInitialWindow = DEFAULT_WINDOW;
  /** Initial window we grant the peer. */
  readonly localInitialWindow = DEFAULT_WINDOW;
  sessionSendWindow = DEFAULT_WINDOW;
  sessionRecvWindow = DEFAULT_WINDOW;
  private sessionUnacked = 0;
  /** Set once the peer shows it does flow control (see the module comment). */
  peerFlowControl = false;
  private readonly decoder = new FrameDecoder();
  private readonly deflate = new HeaderCompressor();
  private readonly inflate = new HeaderDecompressor();
  private nextStreamId: number;
  private nextPingId: number;
  private lastRemoteStreamId = 0;
  private readonly pings = new Map<number, { sent: bigint; resolve: (ms: number) => void }>();
  goAwaySent = false;
  goAwayReceived = false;
  destroyed = false;
  private readonly blocked = new Set<SpdyStream>();
  private draining = false;

  constructor(
    readonly socket: Duplex,
    private readonly opts: SessionOptions,
  ) {
    super();
    this.nextStreamId = opts.isServer ? 2 : 1;
    this.nextPingId = opts.isServer ? 2 : 1;
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('end', () => this.destroy());
    socket.on('close', () => this.destroy());
    socket.on('error', (e) => this.destroy(e));
    socket.on('drain', () => this.onDrain());
    if (opts.head?.length) queueMicrotask(() => this.onData(opts.head!));
  }

  // ---- sending ----

  sendFrame(f: Frame): boolean {
    if (this.destroyed) return false;
    return this.socket.write(encodeFrame(f));
  }

  sendHeaders(kind: 'syn_reply' | 'headers', streamId: number, headers: SpdyHeaders, fin: boolean): void {
    this.sendFrame({ type: kind, streamId, fin, headerBlock: this.deflate.compress(headers) });
  }

  /** Opens a stream (SYN_STREAM) to the peer. */
  openStream(headers: SpdyHeaders, opts: { fin?: boolean; priority?: number } = {}): SpdyStream {
    if (this.goAwaySent || this.goAwayReceived || this.destroyed) throw new Error('session is going away');
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const s = new SpdyStream(this, id, headers);
    s.replied = true;
    this.streams.set(id, s);
    this.sendFrame({
      type: 'syn_stream', streamId: id, associatedId: 0, priority: opts.priority ?? 0, slot: 0,
      fin: opts.fin ?? false, unidirectional: false, headerBlock: this.deflate.compress(headers),
    });
    if (opts.fin) {
      s.localFin = true;
      s.end();
    }
    return s;
  }

  /** Sends a PING and resolves with the round trip in milliseconds. */
  ping(): Promise<number> {
    const id = this.nextPingId;
    this.nextPingId = (this.nextPingId + 2) >>> 0;
    return new Promise((resolve) => {
      this.pings.set(id, { sent: process.hrtime.bigint(), resolve });
      this.sendFrame({ type: 'ping', id });
    });
  }

  /** Sends GOAWAY: no new streams; open ones may finish. */
  goAway(status: number = GoAwayStatus.OK): void {
    if (this.goAwaySent || this.destroyed) return;
    this.goAwaySent = true;
    this.sendFrame({ type: 'goaway', lastGoodStreamId: this.lastRemoteStreamId, status });
  }

  /** GOAWAY, then closes the connection once everything queued is written. */
  close(): void {
    this.goAway();
    if (this.destroyed) return;
    this.socket.end();
  }

  destroy(err?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const s of [...this.streams.values()]) s.destroy();
    this.streams.clear();
    this.deflate.close();
    this.inflate.close();
    this.socket.destroy();
    if (err) this.emit('error', err);
    this.emit('close');
  }

  /** @internal Writes what the windows allow of a stream's queue, then its FIN. */
  flush(s: SpdyStream): void {
    while (s.queue.length && !this.destroyed) {
      const w = s.queue[0]!;
      let allowed = this.peerFlowControl ? Math.min(s.sendWindow, this.sessionSendWindow) : Infinity;
      if (allowed <= 0) {
        this.blocked.add(s);
        return;
      }
      if (!s.replied) s.reply();
      let off = 0;
      while (off < w.data.length && allowed > 0) {
        const n = Math.min(w.data.length - off, MAX_DATA_FRAME, allowed);
        this.sendFrame({ type: 'data', streamId: s.id, fin: false, data: w.data.subarray(off, off + n) });
        off += n;
        allowed -= n;
        s.sendWindow -= n;
        this.sessionSendWindow -= n;
      }
      if (off < w.data.length) {
        w.data = w.data.subarray(off);
        this.blocked.add(s);
        return;
      }
      s.queue.shift();
      // Hold the writer back while the connection itself is backed up.
      if (this.socket.writableNeedDrain) this.socket.once('drain', () => w.cb());
      else w.cb();
    }
    if (s.finishCb && !s.queue.length && !s.localFin) {
      if (!s.replied) s.reply();
      this.sendFrame({ type: 'data', streamId: s.id, fin: true, data: Buffer.alloc(0) });
      const cb = s.finishCb;
      s.finishCb = undefined;
      this.localFinished(s);
      cb();
    }
  }

  /** @internal */
  localFinished(s: SpdyStream): void {
    s.localFin = true;
    this.maybeDone(s);
  }

  /** @internal Forgets a stream once both sides finished it. */
  maybeDone(s: SpdyStream): void {
    if (s.localFin && s.remoteFin) this.dropStream(s);
  }

  /** @internal */
  dropStream(s: SpdyStream): void {
    if (this.streams.get(s.id) === s) this.streams.delete(s.id);
    this.blocked.delete(s);
    if (this.streams.size === 0) this.emit('idle');
  }

  /** @internal The reader consumed n bytes: give them back to the session window. */
  consumed(n: number): void {
    this.sessionUnacked += n;
    this.sessionRecvWindow += n;
    if (this.sessionUnacked >= this.localInitialWindow / 2) {
      this.sendFrame({ type: 'window_update', streamId: 0, delta: this.sessionUnacked });
      this.sessionUnacked = 0;
    }
  }

  private onDrain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (const s of [...this.blocked]) {
        this.blocked.delete(s);
        this.flush(s);
      }
    } finally {
      this.draining = false;
    }
  }

  // ---- receiving ----

  private onData(chunk: Buffer): void {
    if (this.destroyed) return;
    try {
      for (const f of this.decoder.push(chunk)) {
        if (this.destroyed) return;
        this.handle(f);
      }
    } catch (err) {
      this.protocolError(err);
    }
  }

  private protocolError(err: unknown): void {
    if (err instanceof SpdyProtocolError && err.streamId !== undefined && err.streamId !== 0) {
      const s = this.streams.get(err.streamId);
      this.sendFrame({ type: 'rst_stream', streamId: err.streamId, status: err.status });
      if (s) {
        s.resetStatus = err.status;
        this.dropStream(s);
        s.destroy();
      }
      return;
    }
    this.goAway(GoAwayStatus.PROTOCOL_ERROR);
    this.destroy(err instanceof Error ? err : new Error(String(err)));
  }

  private isRemoteId(id: number): boolean {
    return this.opts.isServer ? id % 2 === 1 : id % 2 === 0;
  }

  private handle(f: Frame): void {
    switch (f.type) {
      case 'syn_stream': {
        // Always inflate, even for a refused stream: the zlib context is shared.
        const headers = this.inflate.decompress(f.headerBlock, f.streamId);
        if (f.streamId === 0 || !this.isRemoteId(f.streamId) || f.streamId <= this.lastRemoteStreamId) {
          if (this.streams.has(f.streamId)) throw new SpdyProtocolError(`stream ${f.streamId} is already open`, f.streamId, RstStatus.STREAM_IN_USE);
          throw new SpdyProtocolError(`SYN_STREAM with stream id ${f.streamId} out of order`);
        }
        this.lastRemoteStreamId = f.streamId;
        if (this.goAwaySent) {
          this.sendFrame({ type: 'rst_stream', streamId: f.streamId, status: RstStatus.REFUSED_STREAM });
          return;
        }
        const s = new SpdyStream(this, f.streamId, headers);
        this.streams.set(f.streamId, s);
        if (f.unidirectional) s.localFin = true;
        if (f.fin) s.receive(Buffer.alloc(0), true);
        this.emit('stream', s);
        return;
      }
      case 'syn_reply': {
        const headers = this.inflate.decompress(f.headerBlock, f.streamId);
        const s = this.streams.get(f.streamId);
        if (!s) return;
        s.headers = headers;
        s.emit('reply', headers);
        if (f.fin) s.receive(Buffer.alloc(0), true);
        return;
      }
      case 'headers': {
        const headers = this.inflate.decompress(f.headerBlock, f.streamId);
        const s = this.streams.get(f.streamId);
        if (!s) throw new SpdyProtocolError(`HEADERS for stream ${f.streamId} that is not open`, f.streamId, RstStatus.INVALID_STREAM);
        Object.assign(s.headers, headers);
        s.emit('headers', headers);
        if (f.fin) s.receive(Buffer.alloc(0), true);
        return;
      }
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (!s) {
          // Data racing a reset we sent is expected; anything else is the peer's mistake.
          if (!this.goAwaySent) this.sendFrame({ type: 'rst_stream', streamId: f.streamId, status: RstStatus.INVALID_STREAM });
          return;
        }
        if (s.remoteFin) throw new SpdyProtocolError(`DATA after FIN on stream ${f.streamId}`, f.streamId, RstStatus.STREAM_ALREADY_CLOSED);
        if (this.peerFlowControl) {
          if (f.data.length > s.recvWindow) throw new SpdyProtocolError(`stream ${f.streamId} overran its window`, f.streamId, RstStatus.FLOW_CONTROL_ERROR);
          if (f.data.length > this.sessionRecvWindow) throw new SpdyProtocolError('session window overrun');
        }
        this.sessionRecvWindow -= f.data.length;
        s.receive(f.data, f.fin);
        return;
      }
      case 'rst_stream': {
        const s = this.streams.get(f.streamId);
        if (!s) return;
        s.resetStatus = f.status;
        this.dropStream(s);
        s.emit('reset', f.status);
        s.destroy();
        return;
      }
      case 'settings': {
        for (const e of f.entries) {
          if (e.id !== Setting.INITIAL_WINDOW_SIZE) continue;
          if (e.value > 0x7fffffff) throw new SpdyProtocolError('INITIAL_WINDOW_SIZE above 2^31-1');
          this.peerFlowControl = true;
          const delta = e.value - this.peerInitialWindow;
          this.peerInitialWindow = e.value;
          // The change applies to every open stream's window (SPDY/3 2.6.8).
          for (const s of this.streams.values()) s.sendWindow += delta;
          if (delta > 0) this.onDrain();
        }
        return;
      }
      case 'window_update': {
        this.peerFlowControl = true;
        if (f.streamId === 0) {
          if (this.sessionSendWindow + f.delta > 0x7fffffff) throw new SpdyProtocolError('session window above 2^31-1');
          this.sessionSendWindow += f.delta;
          this.onDrain();
          return;
        }
        const s = this.streams.get(f.streamId);
        if (!s) return;
        if (s.sendWindow + f.delta > 0x7fffffff) throw new SpdyProtocolError(`stream ${f.streamId} window above 2^31-1`, f.streamId, RstStatus.FLOW_CONTROL_ERROR);
        s.sendWindow += f.delta;
        this.blocked.delete(s);
        this.flush(s);
        return;
      }
      case 'ping': {
        // Our own pings carry our parity; anything else is the peer's, to be echoed.
        if (f.id % 2 === this.nextPingId % 2) {
          const p = this.pings.get(f.id);
          if (p) {
            this.pings.delete(f.id);
            p.resolve(Number(process.hrtime.bigint() - p.sent) / 1e6);
          }
          return;
        }
        this.sendFrame({ type: 'ping', id: f.id });
        return;
      }
      case 'goaway': {
        this.goAwayReceived = true;
        this.emit('goaway', f.lastGoodStreamId, f.status);
        // Streams we opened above the last one the peer accepted will never be served.
        for (const s of [...this.streams.values()]) {
          if (!this.isRemoteId(s.id) && s.id > f.lastGoodStreamId) {
            s.resetStatus = RstStatus.REFUSED_STREAM;
            this.dropStream(s);
            s.destroy();
          }
        }
        if (this.streams.size === 0) this.close();
        else this.once('idle', () => this.close());
        return;
      }
      case 'unknown':
        return;
    }
  }
}
