// A SPDY/3.1 client for tests, written from the spec (draft-mbelshe-httpbis-
// spdy-00 and the 3.1 flow-control additions) and Kubernetes' streaming
// conventions, independently of berthd's server code. It takes part in flow
// control: it announces its window in SETTINGS, acknowledges what it reads
// with WINDOW_UPDATE and sends only within the server's windows.
import net from 'node:net';
import { EventEmitter } from 'node:events';
import pako from 'pako';

// The SPDY/3 dictionary: length-prefixed header names, then a raw tail.
const NAMES = ('options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges age allow ' +
  'authorization cache-control connection content-base content-encoding content-language content-length content-location ' +
  'content-md5 content-range content-type date etag expect expires from host if-match if-modified-since if-none-match if-range ' +
  'if-unmodified-since last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer ' +
  'retry-after server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate method get status').split(' ')
  .concat(['200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive', 'origin']);
const TAIL = '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden' +
  '404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept ' +
  'Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,' +
  'application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8' +
  'charset=iso-8859-1,utf-,*,enq=0.';
const DICT = Buffer.concat([
  ...NAMES.map((n) => {
    const b = Buffer.alloc(4 + n.length);
    b.writeUInt32BE(n.length);
    b.write(n, 4, 'latin1');
    return b;
  }),
  Buffer.from(TAIL, 'latin1'),
]);

const WINDOW = 65536;

export class ClientStream extends EventEmitter {
  readonly chunks: Buffer[] = [];
  ended = false;
  reset?: number;
  sendWindow: number;
  private queue: { data: Buffer; fin: boolean }[] = [];
  readonly done: Promise<void>;
  replied: Promise<void>;

  constructor(readonly client: SpdyClient, readonly id: number) {
    super();
    this.sendWindow = client.serverInitialWindow;
    this.done = new Promise((r) => {
      this.once('end', r);
      this.once('reset', r);
    });
    this.replied = new Promise((r) => this.once('reply', r));
  }

  text(): string {
    return Buffer.concat(this.chunks).toString();
  }

  write(data: Buffer | string, fin = false): void {
    this.queue.push({ data: Buffer.from(data), fin });
    this.flush();
  }

  end(data?: Buffer | string): void {
    this.write(data ?? Buffer.alloc(0), true);
  }

  /** @internal */
  flush(): void {
    while (this.queue.length) {
      const q = this.queue[0]!;
      const n = Math.min(q.data.length, this.sendWindow, this.client.sessionSendWindow, 16384);
      if (q.data.length > 0 && n <= 0) return;
      const last = n === q.data.length;
      this.client.frameData(this.id, q.data.subarray(0, n), last && q.fin);
      this.sendWindow -= n;
      this.client.sessionSendWindow -= n;
      if (last) this.queue.shift();
      else q.data = q.data.subarray(n);
    }
  }
}

export class SpdyClient extends EventEmitter {
  private nextId = 1;
  readonly streams = new Map<number, ClientStream>();
  private buf = Buffer.alloc(0);
  private readonly deflate = new pako.Deflate({ dictionary: DICT });
  private readonly inflate = new pako.Inflate({ dictionary: DICT });
  private zOut: Uint8Array[] = [];
  private zIn: Uint8Array[] = [];
  serverInitialWindow = WINDOW;
  sessionSendWindow = WINDOW;
  readonly frames: { type: number; streamId?: number; status?: number; id?: number }[] = [];
  closed: Promise<void>;
  /** Set false to behave like spdystream: no SETTINGS, no WINDOW_UPDATE, windows ignored. */

  private constructor(readonly sock: net.Socket, readonly protocol: string, head: Buffer, readonly flowControl: boolean) {
    super();
    this.deflate.onData = (c: Uint8Array) => this.zOut.push(c);
    this.inflate.onData = (c: Uint8Array) => this.zIn.push(c);
    this.closed = new Promise((r) => sock.once('close', () => r()));
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => undefined);
    if (flowControl) {
      // SETTINGS: one entry, INITIAL_WINDOW_SIZE (7) = 64 KiB.
      const p = Buffer.alloc(12);
      p.writeUInt32BE(1, 0);
      p.writeUInt32BE(7, 4);
      p.writeUInt32BE(WINDOW, 8);
      this.control(4, 0, p);
    }
    if (head.length) this.onData(head);
  }

  /**
   * Upgrades an HTTP/1.1 connection to SPDY/3.1, offering `protocols` in
   * X-Stream-Protocol-Version. Rejects with the status line on refusal.
   */
  static connect(url: string, protocols: string[], opts: { flowControl?: boolean; method?: string } = {}): Promise<SpdyClient> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const sock = net.connect(Number(u.port), u.hostname);
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.setNoDelay(true);
        sock.write(
          `${opts.method ?? 'POST'} ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n` +
          protocols.map((p) => `X-Stream-Protocol-Version: ${p}\r\n`).join('') + 'Content-Length: 0\r\n\r\n',
        );
      });
      let acc = Buffer.alloc(0);
      const onData = (d: Buffer): void => {
        acc = Buffer.concat([acc, d]);
        const end = acc.indexOf('\r\n\r\n');
        if (end < 0) return;
        sock.off('data', onData);
        const head = acc.subarray(0, end).toString();
        const rest = acc.subarray(end + 4);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
        if (status !== 101) {
          sock.destroy();
          reject(Object.assign(new Error(head.split('\r\n')[0]), { status, response: acc.toString() }));
          return;
        }
        const proto = /x-stream-protocol-version: *(\S+)/i.exec(head)?.[1] ?? '';
        resolve(new SpdyClient(sock, proto, rest, opts.flowControl ?? true));
      };
      sock.on('data', onData);
    });
  }

  private control(type: number, flags: number, payload: Buffer): void {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8003, 0);
    h.writeUInt16BE(type, 2);
    h.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
    this.sock.write(Buffer.concat([h, payload]));
  }

  /** @internal */
  frameData(id: number, data: Buffer, fin: boolean): void {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(id, 0);
    h.writeUInt32BE((((fin ? 1 : 0) << 24) | data.length) >>> 0, 4);
    this.sock.write(Buffer.concat([h, data]));
  }

  private compress(headers: Record<string, string>): Buffer {
    const parts: Buffer[] = [];
    const u32 = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    const e = Object.entries(headers);
    parts.push(u32(e.length));
    for (const [k, v] of e) parts.push(u32(Buffer.byteLength(k)), Buffer.from(k), u32(Buffer.byteLength(v)), Buffer.from(v));
    this.zOut = [];
    this.deflate.push(Buffer.concat(parts), 2 /* Z_SYNC_FLUSH */);
    return Buffer.concat(this.zOut);
  }

  private decompress(block: Buffer): Record<string, string> {
    this.zIn = [];
    this.inflate.push(block, 2);
    const b = Buffer.concat(this.zIn);
    const out: Record<string, string> = {};
    let off = 4;
    for (let i = 0, n = b.readUInt32BE(0); i < n; i++) {
      const kl = b.readUInt32BE(off);
      const k = b.subarray(off + 4, off + 4 + kl).toString();
      off += 4 + kl;
      const vl = b.readUInt32BE(off);
      out[k] = b.subarray(off + 4, off + 4 + vl).toString();
      off += 4 + vl;
    }
    return out;
  }

  /** SYN_STREAM with these headers (names lower-cased as SPDY requires). */
  open(headers: Record<string, string>, fin = false): ClientStream {
    const id = this.nextId;
    this.nextId += 2;
    const s = new ClientStream(this, id);
    this.streams.set(id, s);
    const fixed = Buffer.alloc(10);
    fixed.writeUInt32BE(id, 0);
    this.control(1, fin ? 1 : 0, Buffer.concat([fixed, this.compress(headers)]));
    return s;
  }

  rst(id: number, status = 5): void {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(id, 0);
    p.writeUInt32BE(status, 4);
    this.control(3, 0, p);
  }

  ping(id: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(id);
    this.control(6, 0, p);
  }

  goAway(): void {
    const p = Buffer.alloc(8);
    this.control(7, 0, p);
  }

  close(): void {
    this.sock.destroy();
  }

  private windowUpdate(id: number, n: number): void {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(id, 0);
    p.writeUInt32BE(n, 4);
    this.control(9, 0, p);
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      if (this.buf.length < 8 + len) return;
      const w0 = this.buf.readUInt32BE(0);
      const flags = this.buf[4]!;
      const p = this.buf.subarray(8, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      if (w0 & 0x80000000) this.onControl(w0 & 0xffff, flags, Buffer.from(p));
      else this.onDataFrame(w0 & 0x7fffffff, flags, Buffer.from(p));
    }
  }

  private onDataFrame(id: number, flags: number, p: Buffer): void {
    const s = this.streams.get(id);
    if (!s) return;
    if (p.length) {
      s.chunks.push(p);
      s.emit('data', p);
      if (this.flowControl) {
        this.windowUpdate(id, p.length);
        this.windowUpdate(0, p.length);
      }
    }
    if (flags & 1) {
      s.ended = true;
      s.emit('end');
    }
  }

  private onControl(type: number, flags: number, p: Buffer): void {
    switch (type) {
      case 2: { // SYN_REPLY
        const id = p.readUInt32BE(0) & 0x7fffffff;
        this.decompress(p.subarray(4));
        this.frames.push({ type, streamId: id });
        this.streams.get(id)?.emit('reply');
        if (flags & 1) this.onDataFrame(id, 1, Buffer.alloc(0));
        return;
      }
      case 3: { // RST_STREAM
        const id = p.readUInt32BE(0) & 0x7fffffff;
        const status = p.readUInt32BE(4);
        this.frames.push({ type, streamId: id, status });
        const s = this.streams.get(id);
        if (s) {
          s.reset = status;
          s.emit('reset', status);
        }
        return;
      }
      case 6: // PING
        this.frames.push({ type, id: p.readUInt32BE(0) });
        this.emit('ping', p.readUInt32BE(0));
        if (p.readUInt32BE(0) % 2 === 0) this.control(6, 0, p);
        return;
      case 7: // GOAWAY
        this.frames.push({ type, status: p.readUInt32BE(4) });
        this.emit('goaway');
        return;
      case 8: // HEADERS
        this.decompress(p.subarray(4));
        return;
      case 9: { // WINDOW_UPDATE
        const id = p.readUInt32BE(0) & 0x7fffffff;
        const delta = p.readUInt32BE(4) & 0x7fffffff;
        if (id === 0) {
          this.sessionSendWindow += delta;
          for (const s of this.streams.values()) s.flush();
        } else {
          const s = this.streams.get(id);
          if (s) {
            s.sendWindow += delta;
            s.flush();
          }
        }
        return;
      }
      default:
        this.frames.push({ type });
    }
  }
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** The error stream's content (a JSON Status for v4 and later). */
  error: string;
  protocol: string;
}

/**
 * A remote-command session the way kubectl runs one: error stream first,
 * then stdin/stdout/stderr/resize as asked, stdin sent and closed, output
 * read until the server closes.
 */
export async function spdyCommand(
  url: string,
  o: { stdin?: string | Buffer; stdout?: boolean; stderr?: boolean; tty?: boolean; protocols?: string[]; flowControl?: boolean },
): Promise<CommandResult> {
  const c = await SpdyClient.connect(url, o.protocols ?? ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'], { flowControl: o.flowControl });
  const error = c.open({ streamtype: 'error' });
  const stdin = o.stdin !== undefined ? c.open({ streamtype: 'stdin' }) : undefined;
  const stdout = o.stdout !== false ? c.open({ streamtype: 'stdout' }) : undefined;
  const stderr = o.stderr ? c.open({ streamtype: 'stderr' }) : undefined;
  if (o.tty) c.open({ streamtype: 'resize' });
  if (stdin) stdin.end(o.stdin);
  await Promise.all([error.done, stdout?.done, stderr?.done]);
  c.close();
  return { stdout: stdout?.text() ?? '', stderr: stderr?.text() ?? '', error: error.text(), protocol: c.protocol };
}
