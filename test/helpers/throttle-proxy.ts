// A throttling HTTP proxy in front of a test registry, for pull storms: a
// request that would make more than `maxInFlight` requests in flight is
// answered 429 Too Many Requests with Retry-After (and the registry's JSON
// error body); the others are forwarded and streamed back. It counts what
// arrives per method and path, and notices clients that come back for a path
// before the Retry-After it was given for that path ran out: each 429 expects
// one comeback for its path, and the next request for that path is taken to
// be it (so early comebacks never outnumber 429s, though an independent
// request for the same path, e.g. from another pull, can stand in for one).
//
//   const reg = await startRegistry();
//   const proxy = await startThrottleProxy(reg, { maxInFlight: 4, retryAfterSeconds: 1 });
//   `${proxy.host}/test/busybox:latest`     // pull through the proxy
//   proxy.blobFetches()                      // digest -> GETs answered 200
//   proxy.totals()                           // requests, 429s, early comebacks, peak in flight
//   await proxy.close()
import { createServer, request, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TestRegistry } from './registry.js';

export interface ThrottleOptions {
  /** Requests forwarded at once; one more is answered 429. */
  maxInFlight: number;
  retryAfterSeconds: number;
  /** Retry-After as delay-seconds (default) or as an HTTP-date, both of which RFC 9110 allows. */
  retryAfterFormat?: 'seconds' | 'date';
  /** How much earlier than Retry-After a comeback may be and still count as honouring it (timer granularity). */
  toleranceMs?: number;
}

export interface PathCounts {
  /** Every request for the path, throttled or not. */
  requests: number;
  /** Forwarded and answered 200 by the registry. */
  ok: number;
  throttled: number;
  /** Comebacks after a 429 that came before its Retry-After had passed. */
  early: number;
}

export interface ThrottleProxy {
  host: string;
  url: string;
  /** By `METHOD path`. */
  counts: Map<string, PathCounts>;
  totals(): { requests: number; ok: number; throttled: number; early: number; peakInFlight: number };
  /** GETs of each blob answered 200, by digest, whatever repository path they came through. */
  blobFetches(): Map<string, number>;
  /** Forgets the counts (between runs). */
  reset(): void;
  close(): Promise<void>;
}

export async function startThrottleProxy(reg: TestRegistry, o: ThrottleOptions): Promise<ThrottleProxy> {
  const tolerance = o.toleranceMs ?? 20;
  const counts = new Map<string, PathCounts>();
  // Per path, when each 429's comeback may come, earliest first.
  const comebacks = new Map<string, number[]>();
  let inFlight = 0;
  let peak = 0;
  const upstream = new Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set<Socket>();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const key = `${req.method} ${(req.url ?? '').split('?')[0]}`;
    const c = counts.get(key) ?? { requests: 0, ok: 0, throttled: 0, early: 0 };
    counts.set(key, c);
    c.requests++;
    const now = Date.now();
    const due = comebacks.get(key)?.shift();
    if (due !== undefined && due - tolerance > now) c.early++;
    if (inFlight >= o.maxInFlight) {
      c.throttled++;
      const retryAt = now + o.retryAfterSeconds * 1000;
      const q = comebacks.get(key) ?? [];
      q.push(retryAt);
      comebacks.set(key, q);
      // An HTTP-date has whole seconds: round up so the date is never earlier than the delay.
      const value = o.retryAfterFormat === 'date' ? new Date(Math.ceil(retryAt / 1000) * 1000).toUTCString() : String(o.retryAfterSeconds);
      const body = JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'too many requests in flight', detail: { maxInFlight: o.maxInFlight } }] });
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': value, 'content-length': Buffer.byteLength(body) });
      res.end(body);
      req.resume();
      return;
    }
    inFlight++;
    peak = Math.max(peak, inFlight);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      inFlight--;
    };
    res.once('close', finish);
    const up = request({ host: '127.0.0.1', port: reg.port, path: req.url, method: req.method, headers: req.headers, agent: upstream }, (ur) => {
      if (ur.statusCode === 200) c.ok++;
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.once('error', (err) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(err));
      finish();
    });
    req.pipe(up);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    counts,
    totals() {
      const t = { requests: 0, ok: 0, throttled: 0, early: 0, peakInFlight: peak };
      for (const c of counts.values()) {
        t.requests += c.requests;
        t.ok += c.ok;
        t.throttled += c.throttled;
        t.early += c.early;
      }
      return t;
    },
    blobFetches() {
      const out = new Map<string, number>();
      for (const [key, c] of counts) {
        const m = /^GET \/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(key);
        if (m) out.set(m[1]!, (out.get(m[1]!) ?? 0) + c.ok);
      }
      return out;
    },
    reset() {
      counts.clear();
      comebacks.clear();
      peak = inFlight;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      upstream.destroy();
    },
  };
}
