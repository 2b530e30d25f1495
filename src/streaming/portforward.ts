// Port-forward over SPDY (portforward.k8s.io): for each connection the
// client opens an error stream and a data stream carrying the same `port`
// and `requestid` headers. Once both are there the data stream is joined to
// a TCP connection inside the pod; a failure is reported as text on the
// error stream. A FIN from either side half-closes the other, so each
// direction ends cleanly on its own.
import type { Duplex } from 'node:stream';
import type { SpdySession, SpdyStream } from './spdy/session.js';
import { STREAM_CREATION_TIMEOUT_MS } from './remotecommand.js';
import { errorMessage } from '../util/errors.js';

export const PORTFORWARD_PROTOCOL = 'portforward.k8s.io';

/** Opens a connection to a port inside the pod. */
export type Dial = (port: number) => Promise<Duplex>;

export function parsePort(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,5}$/.test(v)) return undefined;
  const n = Number(v);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** Joins a client stream and a pod connection both ways, half-closing each direction on its own. */
export function join(client: Duplex, conn: Duplex, onDone: () => void): void {
  let ended = 0;
  const done = (): void => {
    if (++ended === 2) onDone();
  };
  client.pipe(conn);
  conn.pipe(client);
  client.once('end', done);
  conn.once('end', done);
  const fail = (): void => {
    client.destroy();
    conn.destroy();
    if (ended < 2) {
      ended = 2;
      onDone();
    }
  };
  client.once('close', () => {
    if (!client.readableEnded) fail();
  });
  conn.once('error', fail);
  client.once('error', fail);
}

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

export function serveSpdyPortForward(
  session: SpdySession,
  dial: Dial,
  log: (msg: string, fields: Record<string, unknown>) => void,
): void {
  const pairs = new Map<string, Pair>();
  session.on('stream', (s: SpdyStream) => {
    const type = s.headers.streamtype;
    const port = parsePort(s.headers.port);
    if ((type !== 'data' && type !== 'error') || port === undefined) {
      s.reset();
      return;
    }
    // Clients before request IDs: the error stream's id names the pair, the data stream follows it.
    const requestId = s.headers.requestid ?? String(type === 'error' ? s.id : s.id - 2);
    s.reply();
    let p = pairs.get(requestId);
    if (!p) {
      const timer = setTimeout(() => {
        pairs.delete(requestId);
        p?.data?.reset();
        p?.error?.reset();
      }, STREAM_CREATION_TIMEOUT_MS);
      p = { timer };
      pairs.set(requestId, p);
    }
    if (p[type]) {
      s.reset();
      return;
    }
    p[type] = s;
    if (!p.data || !p.error) return;
    clearTimeout(p.timer);
    pairs.delete(requestId);
    const { data, error } = p;
    error.resume();
    dial(port).then(
      (conn) => {
        conn.once('error', (err) => {
          if (!error.writableEnded) error.end(`error forwarding port ${port}: ${errorMessage(err)}`);
        });
        join(data, conn, () => {
          if (!error.writableEnded) error.end();
        });
      },
      (err) => {
        log('port-forward connection failed', { port, err: errorMessage(err) });
        error.end(`error forwarding port ${port}: ${errorMessage(err)}`);
        data.end();
      },
    );
  });
  session.once('close', () => {
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
  });
}
