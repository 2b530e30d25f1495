// The WebSocket transports (the `ws` package does the WebSocket itself).
//
// Remote command (channel.k8s.io family): every message starts with a
// channel number, 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5 adds a
// close message [255, channel] for stdin. The base64 variants send text
// messages, the channel as an ASCII digit followed by base64 data.
//
// Port-forward: ports come from the `ports` query parameter; port i uses
// channel 2i for data and 2i+1 for errors, and the first message the server
// sends on each of them is the port, 2 bytes little-endian.
import { PassThrough, Writable } from 'node:stream';
import type { WebSocket, RawData } from 'ws';
import type { CommandChannels } from './remotecommand.js';
import { encodeOutcome, protocolVersion, ResizeDecoder } from './remotecommand.js';
import type { CommandOptions } from './tokens.js';
import type { Dial } from './portforward.js';
import { errorMessage } from '../util/errors.js';

export const WS_COMMAND_PROTOCOLS = [
  'v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io',
];
export const WS_PORTFORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'portforward.k8s.io', 'v4.base64.channel.k8s.io', 'base64.portforward.k8s.io'];

export const CH_STDIN = 0;
export const CH_STDOUT = 1;
export const CH_STDERR = 2;
export const CH_ERROR = 3;
export const CH_RESIZE = 4;
export const CH_CLOSE = 255;

/** Chooses the first protocol of the client's offer that we speak. */
export function negotiate(offered: Iterable<string>, supported: readonly string[]): string | undefined {
  for (const p of offered) if (supported.includes(p)) return p;
  return undefined;
}

const isBase64 = (protocol: string): boolean => protocol.includes('base64');

class Framer {
  constructor(private readonly ws: WebSocket, private readonly base64: boolean) {}

  send(channel: number, data: Buffer, cb?: (err?: Error) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) {
      cb?.(new Error('websocket closed'));
      return;
    }
    if (this.base64) this.ws.send(String.fromCharCode(48 + channel) + data.toString('base64'), { binary: false }, cb);
    else this.ws.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, cb);
  }

  /** Splits a received message into channel and payload. */
  decode(msg: RawData, isBinary: boolean): { channel: number; data: Buffer } | undefined {
    // ws hands over Buffers (binaryType 'nodebuffer'); only other binary types need converting.
    const b = Buffer.isBuffer(msg) ? msg : Array.isArray(msg) ? Buffer.concat(msg) : Buffer.from(msg);
    if (b.length === 0) return undefined;
    if (this.base64 && !isBinary) return { channel: b[0]! - 48, data: Buffer.from(b.subarray(1).toString(), 'base64') };
    return { channel: b[0]!, data: b.subarray(1) };
  }
}

/** Bytes queued in the WebSocket beyond which a writer waits for the socket. */
const WS_HIGH_WATER = 1024 * 1024;

function channelWriter(ws: WebSocket, f: Framer, channel: number): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (ws.bufferedAmount < WS_HIGH_WATER) {
        f.send(channel, chunk);
        cb();
      } else f.send(channel, chunk, (err) => cb(err ?? null));
    },
  });
}

export function wsCommandChannels(ws: WebSocket, o: CommandOptions, protocol: string): CommandChannels {
  const f = new Framer(ws, isBase64(protocol));
  const version = protocolVersion(protocol);
  const stdin = o.stdin ? new PassThrough() : undefined;
  const resizeCbs: ((s: { width: number; height: number }) => void)[] = [];
  const resize = new ResizeDecoder((s) => resizeCbs.forEach((cb) => cb(s)));
  const gone = new Promise<void>((r) => ws.once('close', () => r()));
  ws.on('message', (msg, isBinary) => {
    const m = f.decode(msg, isBinary);
    if (!m) return;
    if (m.channel === CH_STDIN) stdin?.write(m.data);
    else if (m.channel === CH_RESIZE) resize.push(m.data);
    else if (m.channel === CH_CLOSE && version >= 5 && m.data[0] === CH_STDIN) stdin?.end();
  });
  void gone.then(() => stdin?.end());
  return {
    stdin,
    stdout: o.stdout ? channelWriter(ws, f, CH_STDOUT) : undefined,
    stderr: o.stderr && !o.tty ? channelWriter(ws, f, CH_STDERR) : undefined,
    onResize: (cb) => resizeCbs.push(cb),
    writeOutcome(out) {
      const b = encodeOutcome(version, out);
      return new Promise((res) => (b ? f.send(CH_ERROR, b, () => res()) : res()));
    },
    close() {
      if (ws.readyState === ws.OPEN) ws.close(1000);
    },
    gone,
  };
}

export function serveWsPortForward(
  ws: WebSocket,
  protocol: string,
  ports: number[],
  dial: Dial,
  log: (msg: string, fields: Record<string, unknown>) => void,
): void {
  const f = new Framer(ws, isBase64(protocol));
  if (ports.length === 0) {
    ws.close(1008, 'no ports to forward');
    return;
  }
  const inputs = ports.map(() => new PassThrough());
  let open = ports.length;
  const finishOne = (): void => {
    if (--open === 0 && ws.readyState === ws.OPEN) ws.close(1000);
  };
  ws.on('message', (msg, isBinary) => {
    const m = f.decode(msg, isBinary);
    if (!m || m.channel % 2 !== 0) return;
    inputs[m.channel / 2]?.write(m.data);
  });
  ws.once('close', () => inputs.forEach((i) => i.destroy()));
  ports.forEach((port, i) => {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    f.send(2 * i, prefix);
    f.send(2 * i + 1, prefix);
    const input = inputs[i]!;
    const output = channelWriter(ws, f, 2 * i);
    const reportError = (err: unknown): void => {
      log('port-forward connection failed', { port, err: errorMessage(err) });
      f.send(2 * i + 1, Buffer.from(`error forwarding port ${port}: ${errorMessage(err)}`));
    };
    dial(port).then(
      (conn) => {
        conn.once('error', reportError);
        // One duplex for the client side of this port: input from the socket, output as data messages.
        input.pipe(conn);
        conn.on('data', (d: Buffer) => {
          if (!output.write(d)) {
            conn.pause();
            output.once('drain', () => conn.resume());
          }
        });
        conn.once('end', finishOne);
        input.once('close', () => conn.destroy());
      },
      (err) => {
        reportError(err);
        finishOne();
      },
    );
  });
}
