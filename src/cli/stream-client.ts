// The client side of a CRI streaming server (berthd's, containerd's, CRI-O's)
// over WebSocket, for `berth exec -i/-t`, `attach` and `port-forward`.
//
// Remote command (exec, attach): every binary message is a channel byte and
// data; 0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status as JSON from
// v4 on), 4 resize ({"Width":w,"Height":h}). v5.channel.k8s.io adds the close
// message [255, 0] that ends stdin; v4.channel.k8s.io (the newest that
// kubelet-derived servers before Kubernetes 1.30, such as containerd 1.6,
// speak) has no way to say so, and stdin stays open until the session ends.
//
// Port-forward: one WebSocket per connection, one port per socket here;
// channel 0 carries data both ways and 1 errors from the server, and the
// server opens each of them with the port, 2 bytes little-endian.
import type { Readable, Writable } from 'node:stream';
import type { Socket } from 'node:net';
import WebSocket from 'ws';

export const COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
export const PORTFORWARD_PROTOCOLS = ['v4.channel.k8s.io'];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;

export interface TerminalSize { width: number; height: number }

/** A streaming server's URL as a WebSocket URL. */
function wsUrl(url: string): string {
  return url.replace(/^http(s?):/, 'ws$1:');
}

interface Connection {
  ws: WebSocket;
  /** Hands every message, those that came with the handshake included, to `fn`. */
  onMessage(fn: (msg: Buffer) => void): void;
}

function connect(url: string, protocols: string[]): Promise<Connection> {
  // crictl does not verify the streaming server's certificate either: the
  // URL came from the runtime over its own socket, and runtimes serve
  // streaming with self-signed certificates.
  const ws = new WebSocket(wsUrl(url), protocols, { perMessageDeflate: false, rejectUnauthorized: false });
  // Frames that arrive in the same read as the handshake's answer are
  // emitted before anyone awaiting 'open' runs: hold them until then.
  let early: Buffer[] | undefined = [];
  let handler: ((msg: Buffer) => void) | undefined;
  ws.on('message', (msg: Buffer) => (handler ? handler(msg) : early!.push(msg)));
  const conn: Connection = {
    ws,
    onMessage(fn) {
      handler = fn;
      for (const m of early ?? []) fn(m);
      early = undefined;
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(conn));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => reject(new Error(`streaming server ${url.replace(/\/[^/]*$/, '/…')} answered ${res.statusCode}${body.trim() ? `: ${body.trim()}` : ''}`)));
      ws.terminate();
    });
    ws.once('error', (err) => reject(new Error(`streaming server ${new URL(url).host}: ${err.message}`)));
  });
}

function frame(channel: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([channel]), data]);
}

/** A v4+ error channel's status as an exit code; other failures as an Error. */
export function commandOutcome(protocol: string, errorChannel: string): number {
  const text = errorChannel.trim();
  if (text === '') return 0;
  if (!protocol.startsWith('v4.') && !protocol.startsWith('v5.')) throw new Error(text);
  let status: { status?: string; message?: string; reason?: string; details?: { causes?: { reason?: string; message?: string }[] } };
  try {
    status = JSON.parse(text) as typeof status;
  } catch {
    throw new Error(text);
  }
  if (status.status === 'Success') return 0;
  if (status.reason === 'NonZeroExitCode') {
    const code = Number(status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message);
    if (Number.isInteger(code)) return code;
  }
  throw new Error(status.message || text);
}

export interface CommandSession {
  stdin?: Readable;
  stdout: Writable;
  /** Absent with a TTY, where the terminal carries both. */
  stderr?: Writable;
  /** The terminal's size now, sent at the start; and a way to hear of changes. */
  size?: () => TerminalSize | undefined;
  onResize?: (cb: () => void) => () => void;
}

/**
 * Runs one exec or attach session at `url` to its end; resolves with the
 * command's exit code (0 for an attach that ended without one).
 */
export async function runCommandSession(url: string, s: CommandSession): Promise<number> {
  const conn = await connect(url, COMMAND_PROTOCOLS);
  const { ws } = conn;
  const protocol = ws.protocol;
  const send = (channel: number, data: Buffer): void => {
    if (ws.readyState === WebSocket.OPEN) ws.send(frame(channel, data));
  };
  let error = '';
  const sendSize = (): void => {
    const size = s.size?.();
    if (size && size.width > 0 && size.height > 0) send(RESIZE, Buffer.from(JSON.stringify({ Width: size.width, Height: size.height })));
  };
  sendSize();
  const offResize = s.onResize?.(sendSize);

  conn.onMessage((msg) => {
    if (msg.length === 0) return;
    const data = msg.subarray(1);
    switch (msg[0]) {
      case STDOUT:
        if (!s.stdout.write(data)) {
          ws.pause();
          s.stdout.once('drain', () => ws.resume());
        }
        break;
      case STDERR:
        (s.stderr ?? s.stdout).write(data);
        break;
      case ERROR:
        error += data.toString();
        break;
    }
  });

  const onStdin = (d: Buffer): void => send(STDIN, Buffer.from(d));
  const onStdinEnd = (): void => {
    if (protocol.startsWith('v5.')) send(CLOSE, Buffer.from([STDIN]));
  };
  if (s.stdin) {
    s.stdin.on('data', onStdin);
    s.stdin.once('end', onStdinEnd);
  }
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('close', () => resolve());
      ws.once('error', reject);
    });
  } finally {
    offResize?.();
    if (s.stdin) {
      s.stdin.off('data', onStdin);
      s.stdin.off('end', onStdinEnd);
    }
  }
  return commandOutcome(protocol, error);
}

/**
 * Carries one local connection to `port` in the pod through the streaming
 * server at `url`; resolves when both sides are done.
 */
export async function forwardConnection(url: string, local: Socket, port: number): Promise<void> {
  let conn: Connection;
  try {
    conn = await connect(url, PORTFORWARD_PROTOCOLS);
  } catch (err) {
    local.destroy();
    throw err;
  }
  const { ws } = conn;
  // Each channel starts with the port (2 bytes) before any data.
  const prefix = [2, 2];
  let error = '';
  conn.onMessage((msg) => {
    const channel = msg[0];
    if (channel !== 0 && channel !== 1) return;
    let data = msg.subarray(1);
    const skip = Math.min(prefix[channel]!, data.length);
    prefix[channel]! -= skip;
    data = data.subarray(skip);
    if (data.length === 0) return;
    if (channel === 1) {
      error += data.toString();
      return;
    }
    if (!local.write(data)) {
      ws.pause();
      local.once('drain', () => ws.resume());
    }
  });
  local.on('data', (d: Buffer) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(frame(0, d));
  });
  // The protocol cannot carry a half-close: the connection stays up until
  // the pod's side ends it or the local one goes away entirely.
  local.on('close', () => ws.close());
  local.on('error', () => ws.close());
  await new Promise<void>((resolve) => ws.once('close', () => resolve()));
  local.end();
  if (error) throw new Error(`port ${port}: ${error.trim()}`);
}
