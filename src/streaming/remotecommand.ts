// The Kubernetes remote-command protocol (exec and attach), independent of
// the transport: versions, the status written on the error channel, resize
// messages, and the life of one session from process start to status. The
// SPDY transport (streams named by their `streamtype` header) is here too;
// the WebSocket one is in websocket.ts.
import type { Readable, Writable } from 'node:stream';
import type { ExecSession, TerminalSize } from './target.js';
import type { CommandOptions } from './tokens.js';
import type { SpdySession, SpdyStream } from './spdy/session.js';
import { errorMessage } from '../util/errors.js';

export const V1 = 'channel.k8s.io';
export const V2 = 'v2.channel.k8s.io';
export const V3 = 'v3.channel.k8s.io';
export const V4 = 'v4.channel.k8s.io';
export const V5 = 'v5.channel.k8s.io';

/** SPDY sub-protocols in our order of preference (the client's order decides). */
export const SPDY_COMMAND_PROTOCOLS = [V5, V4, V3, V2, V1];

/** v4 and later carry a metav1.Status on the error channel; earlier ones a bare message on failure. */
export function protocolVersion(p: string): number {
  const m = /^v(\d)\./.exec(p);
  return m ? Number(m[1]) : 1;
}

export type Outcome = { exitCode: number; cmd?: string[] } | { error: string };

/** The metav1.Status written on the error channel by v4 and later. */
export function statusObject(o: Outcome): Record<string, unknown> {
  if ('error' in o) {
    return {
      metadata: {}, status: 'Failure', message: o.error, reason: 'InternalError', code: 500,
      details: { causes: [{ message: o.error }] },
    };
  }
  if (o.exitCode === 0) return { metadata: {}, status: 'Success' };
  const what = o.cmd ? `error executing command [${o.cmd.join(' ')}], exit code ${o.exitCode}` : `exit code ${o.exitCode}`;
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${what}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(o.exitCode) }] },
  };
}

/** What goes on the error channel for a protocol version; undefined when nothing does. */
export function encodeOutcome(version: number, o: Outcome): Buffer | undefined {
  if (version >= 4) return Buffer.from(JSON.stringify(statusObject(o)));
  if ('error' in o) return Buffer.from(o.error);
  if (o.exitCode === 0) return undefined;
  return Buffer.from(String(statusObject(o).message));
}

/**
 * Decodes the resize channel: a sequence of JSON objects {"Width":w,"Height":h}
 * (Go's json.Encoder, one per line, but nothing requires the newline).
 */
export class ResizeDecoder {
  private buf = '';

  constructor(private readonly onSize: (s: TerminalSize) => void) {}

  push(chunk: Buffer | string): void {
    this.buf += chunk.toString();
    for (;;) {
      const start = this.buf.indexOf('{');
      if (start < 0) {
        this.buf = '';
        return;
      }
      let depth = 0;
      let inString = false;
      let end = -1;
      for (let i = start; i < this.buf.length; i++) {
        const c = this.buf[i];
        if (inString) {
          if (c === '\\') i++;
          else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (c === '{') depth++;
        else if (c === '}' && --depth === 0) {
          end = i;
          break;
        }
      }
      if (end < 0) {
        this.buf = this.buf.slice(start);
        if (this.buf.length > 4096) this.buf = '';
        return;
      }
      const text = this.buf.slice(start, end + 1);
      this.buf = this.buf.slice(end + 1);
      try {
        const v = JSON.parse(text) as { Width?: unknown; Height?: unknown };
        const width = Number(v.Width);
        const height = Number(v.Height);
        if (Number.isInteger(width) && Number.isInteger(height) && width >= 0 && height >= 0 && width < 65536 && height < 65536) {
          this.onSize({ width, height });
        }
      } catch {
        // a malformed size is dropped, as kubelet does
      }
    }
  }
}

/** One transport's view of a remote-command session. */
export interface CommandChannels {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** Terminal sizes from the client. */
  onResize(cb: (s: TerminalSize) => void): void;
  /** Writes the outcome on the error channel (encoded for the protocol version) and ends it. */
  writeOutcome(o: Outcome): Promise<void>;
  /** Ends the connection once everything written is sent. */
  close(): void;
  /** Resolves when the client goes away. */
  readonly gone: Promise<void>;
}

const finished = (w: Writable): Promise<void> =>
  new Promise((resolve) => {
    if (w.writableFinished || w.destroyed) return resolve();
    w.once('finish', () => resolve());
    w.once('close', () => resolve());
  });

function pipeOut(from: Readable | undefined, to: Writable | undefined): Promise<void> {
  if (!from) {
    to?.end();
    return to ? finished(to) : Promise.resolve();
  }
  if (!to) {
    from.resume();
    return new Promise((r) => from.once('end', () => r()).once('close', () => r()));
  }
  from.pipe(to);
  from.once('error', () => to.end());
  return finished(to);
}

/** How long output may keep flowing after the process exited (a background child holding the pipe). */
const OUTPUT_GRACE_MS = 1000;

/**
 * Runs a session: starts the process once the channels are ready, wires the
 * streams both ways, kills the process if the client leaves first, and
 * finishes with the outcome on the error channel. Resolves when done.
 */
export async function runCommand(
  ch: CommandChannels,
  start: () => Promise<ExecSession>,
  opts: { cmd?: string[]; onStarted?: () => void; onLog?: (msg: string, err?: unknown) => void },
): Promise<Outcome> {
  let session: ExecSession;
  try {
    session = await start();
  } catch (err) {
    const o: Outcome = { error: errorMessage(err) };
    await ch.writeOutcome(o).catch(() => undefined);
    ch.close();
    return o;
  }
  opts.onStarted?.();
  let clientGone = false;
  void ch.gone.then(() => {
    clientGone = true;
    session.kill();
  });
  if (ch.stdin && session.stdin) {
    const input = session.stdin;
    input.on('error', () => undefined);
    ch.stdin.on('data', (d: Buffer) => {
      if (!input.write(d)) {
        ch.stdin!.pause();
        input.once('drain', () => ch.stdin!.resume());
      }
    });
    ch.stdin.once('end', () => input.end());
    ch.stdin.once('close', () => input.end());
  } else {
    ch.stdin?.resume();
  }
  ch.onResize((s) => session.resize(s));
  const outputs = Promise.all([pipeOut(session.stdout, ch.stdout), pipeOut(session.stderr, ch.stderr)]);
  const exitCode = await session.exited;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([outputs, new Promise((r) => (timer = setTimeout(r, OUTPUT_GRACE_MS)))]);
  clearTimeout(timer);
  ch.stdout?.end();
  ch.stderr?.end();
  const o: Outcome = { exitCode, cmd: opts.cmd };
  if (!clientGone) {
    await ch.writeOutcome(o).catch((err) => opts.onLog?.('writing the exit status failed', err));
  }
  ch.close();
  return o;
}

/** The streams a SPDY remote-command client opens for a request of these options. */
export function expectedSpdyStreams(o: CommandOptions, version: number): string[] {
  const want = ['error'];
  if (o.stdin) want.push('stdin');
  if (o.stdout) want.push('stdout');
  if (o.stderr && !o.tty) want.push('stderr');
  if (o.tty && version >= 3) want.push('resize');
  return want;
}

/** How long a SPDY client may take to open all of its streams (kubelet's figure). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;

/**
 * Collects the client's streams of a SPDY remote-command session and, once
 * all expected ones are open, returns them as channels.
 */
export function spdyCommandChannels(session: SpdySession, o: CommandOptions, protocol: string): Promise<CommandChannels> {
  const version = protocolVersion(protocol);
  const want = new Set(expectedSpdyStreams(o, version));
  const got = new Map<string, SpdyStream>();
  const gone = new Promise<void>((r) => session.once('close', () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      session.off('stream', onStream);
      reject(new Error(`timed out waiting for the client to open streams ${[...want].filter((w) => !got.has(w)).join(', ')}`));
    }, STREAM_CREATION_TIMEOUT_MS);
    void gone.then(() => {
      clearTimeout(timer);
      reject(new Error('the client closed the connection before opening all streams'));
    });
    const onStream = (s: SpdyStream): void => {
      const type = s.headers.streamtype ?? '';
      if (!want.has(type) || got.has(type)) {
        s.reset();
        return;
      }
      s.reply();
      got.set(type, s);
      if (got.size < want.size) return;
      clearTimeout(timer);
      session.off('stream', onStream);
      const error = got.get('error')!;
      const resize = got.get('resize');
      // Clients never write on their output and error streams; drain them so FINs are seen.
      for (const t of ['stdout', 'stderr', 'error']) got.get(t)?.resume();
      resolve({
        stdin: got.get('stdin'),
        stdout: got.get('stdout'),
        stderr: got.get('stderr'),
        onResize(cb) {
          if (!resize) return;
          const dec = new ResizeDecoder(cb);
          resize.on('data', (d: Buffer) => dec.push(d));
        },
        writeOutcome(out) {
          const b = encodeOutcome(version, out);
          return new Promise((res) => {
            if (b) error.end(b, () => res());
            else error.end(() => res());
          });
        },
        close() {
          for (const s of got.values()) if (!s.writableEnded) s.end();
          session.close();
        },
        gone,
      });
    };
    session.on('stream', onStream);
  });
}
