// The registry client's HTTP layer, on Node's own http/https modules: one
// keep-alive agent per endpoint (with that endpoint's TLS settings), a stall
// timeout that covers connecting, the headers and every gap in the body, and
// cancellation by AbortSignal. Node's built-in parser is native code; an HTTP
// library with a WebAssembly parser cost the daemon ~14 MiB of resident memory
// at its first request and ~6 MiB for good (measured with 50 pods running).
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { clampTimerMs } from '../../util/timers.js';

export interface AgentOptions {
  /** Verify the server's certificate (false for registries configured insecure). */
  rejectUnauthorized: boolean;
  ca?: string[];
  cert?: Buffer;
  key?: Buffer;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** The request fails when nothing arrives for this long (connect, headers or body). */
  stallTimeoutMs?: number;
}

/** A response whose body is a Node stream, with helpers for small bodies. */
export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  text(): Promise<string>;
  buffer(): Promise<Buffer>;
  /** Reads and discards the body so the connection can be reused. */
  dump(): Promise<void>;
}

/** A transfer that stopped making progress. */
export class StallError extends Error {
  readonly code = 'ERR_REGISTRY_STALLED';
  constructor(ms: number) {
    super(`no data for ${ms} ms`);
    this.name = 'StallError';
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const e = new Error('the operation was aborted', { cause: reason });
  e.name = 'AbortError';
  return e;
}

async function collect(body: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Connections to one registry endpoint (scheme, host and TLS settings). */
export class HttpAgent {
  private readonly agent: http.Agent;

  constructor(readonly secure: boolean, opts: AgentOptions) {
    // Idle connections are closed after 30 s and never keep the daemon alive.
    const common = { keepAlive: true, maxSockets: 16, maxFreeSockets: 16, timeout: 30_000, scheduling: 'lifo' as const };
    this.agent = secure
      ? new https.Agent({ ...common, rejectUnauthorized: opts.rejectUnauthorized, ca: opts.ca, cert: opts.cert, key: opts.key })
      : new http.Agent(common);
  }

  request(url: URL, o: RequestOptions = {}): Promise<HttpResponse> {
    const signal = o.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const mod = url.protocol === 'https:' ? https : http;
    if ((url.protocol === 'https:') !== this.secure) {
      // A redirect to the other scheme: a one-off connection with default settings.
      return requestWith(mod, undefined, url, o);
    }
    return requestWith(mod, this.agent, url, o);
  }

  close(): void {
    this.agent.destroy();
  }
}

function requestWith(mod: typeof http | typeof https, agent: http.Agent | undefined, url: URL, o: RequestOptions): Promise<HttpResponse> {
  const { signal, stallTimeoutMs } = o;
  return new Promise((resolve, reject) => {
    let res: IncomingMessage | undefined;
    const fail = (err: Error): void => {
      // Before the response this rejects the promise; after it the body's reader sees the error.
      if (res) res.destroy(err);
      req.destroy(err);
    };
    const onAbort = (): void => fail(abortError(signal!));
    const req = mod.request(url, { method: o.method ?? 'GET', headers: o.headers, agent: agent ?? false });
    // A settled promise ignores later rejections; the listener stays so a
    // second error (a destroy after the response) is never unhandled.
    req.on('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
    if (stallTimeoutMs && stallTimeoutMs > 0) req.setTimeout(clampTimerMs(stallTimeoutMs), () => fail(new StallError(stallTimeoutMs)));
    signal?.addEventListener('abort', onAbort, { once: true });
    req.once('response', (r) => {
      res = r;
      // Whoever reads the body sees its errors; this keeps an unread one from crashing the daemon.
      r.on('error', () => undefined);
      r.once('close', () => signal?.removeEventListener('abort', onAbort));
      resolve({
        statusCode: r.statusCode ?? 0,
        headers: r.headers,
        body: r,
        buffer: () => collect(r),
        text: async () => (await collect(r)).toString('utf8'),
        dump: async () => {
          r.resume();
          if (r.complete || r.destroyed) return;
          await new Promise<void>((done) => {
            r.once('end', done);
            r.once('close', done);
          });
        },
      });
    });
    req.end(o.body);
  });
}
