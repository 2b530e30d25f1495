// The streaming server: Exec, Attach and PortForward hand out URLs to it,
// and kubelet or crictl connect there and upgrade to SPDY/3.1 or WebSocket.
//
//   /exec/<token>  /attach/<token>  /portforward/<token>
//
// A token is single-use and expires; an unknown, used or late one gets a
// bare 404. The request the token names (container, command, streams) was
// validated by the RPC before the URL was issued.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocketServer, WebSocket } from 'ws';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { StreamingTarget } from './target.js';
import { TokenStore, type StreamRequest } from './tokens.js';
import type { SpdySession } from './spdy/session.js';
import { runCommand, spdyCommandChannels, SPDY_COMMAND_PROTOCOLS, V1, type CommandChannels } from './remotecommand.js';
import { PORTFORWARD_PROTOCOL, parsePort, serveSpdyPortForward } from './portforward.js';
import { negotiate, serveWsPortForward, wsCommandChannels, WS_COMMAND_PROTOCOLS, WS_PORTFORWARD_PROTOCOLS } from './websocket.js';
import { errorMessage } from '../util/errors.js';

export interface StreamingServerOptions {
  address: string;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
  tokenTtlMs: number;
  /** 0: sessions never time out. */
  idleTimeoutMs: number;
  target: StreamingTarget;
  metrics: Metrics;
  log: Logger;
}

/** What RPC handlers need: a URL for a validated request. */
export interface StreamingUrls {
  url(req: StreamRequest): string;
}

interface Active {
  socket: Duplex;
  bytes: number;
  idleSince: number;
  done: Promise<unknown>;
}

const PATH = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]{1,128})$/;

function rawResponse(socket: Duplex, status: number, text: string, body = ''): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Every value of a header that may repeat, split on commas. */
function headerList(req: http.IncomingMessage, name: string): string[] {
  return (req.headersDistinct[name] ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

interface Transports {
  wss: WebSocketServer;
  SpdySession: typeof SpdySession;
}

export class StreamingServer implements StreamingUrls {
  readonly tokens: TokenStore;
  /** The sub-protocol chosen for each WebSocket upgrade, for the handshake's answer. */
  private readonly chosen = new WeakMap<http.IncomingMessage, string>();
  /**
   * The WebSocket and SPDY stacks (with their compression libraries) cost
   * several MiB of the daemon's memory, so they load with the first
   * streaming request instead of at start.
   */
  private transports?: Promise<Transports>;
  private readonly active = new Set<Active>();
  private idleTimer?: NodeJS.Timeout;
  private baseUrl = '';

  private constructor(
    private readonly server: http.Server | https.Server,
    private readonly o: StreamingServerOptions,
  ) {
    this.tokens = new TokenStore(o.tokenTtlMs);
  }

  static async start(o: StreamingServerOptions): Promise<StreamingServer> {
    const tls = Boolean(o.tlsCert && o.tlsKey);
    const server = tls
      ? https.createServer({ cert: readFileSync(o.tlsCert!), key: readFileSync(o.tlsKey!) })
      : http.createServer();
    const s = new StreamingServer(server, o);
    server.on('request', (req, res) => s.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => s.onUpgrade(req, socket, head));
    server.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.address, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    s.baseUrl = `${tls ? 'https' : 'http'}://${host}:${addr.port}`;
    if (o.idleTimeoutMs > 0) {
      s.idleTimer = setInterval(() => s.reapIdle(), Math.min(5000, Math.max(100, o.idleTimeoutMs / 4)));
      s.idleTimer.unref();
    }
    return s;
  }

  get address(): string {
    return this.baseUrl;
  }

  url(req: StreamRequest): string {
    // Load now so the client's connection, a round trip later, does not wait for it.
    void this.loadTransports().catch(() => undefined);
    return `${this.baseUrl}/${req.kind}/${this.tokens.issue(req)}`;
  }

  /** Ends every session (killing their processes) and stops listening. */
  async stop(): Promise<void> {
    clearInterval(this.idleTimer);
    this.tokens.close();
    const done = [...this.active].map((a) => {
      a.socket.destroy();
      return a.done;
    });
    await Promise.race([Promise.allSettled(done), new Promise((r) => setTimeout(r, 3000))]);
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
  }

  private loadTransports(): Promise<Transports> {
    this.transports ??= Promise.all([import('ws'), import('./spdy/session.js')]).then(([ws, spdy]) => ({
      wss: new ws.WebSocketServer({
        noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024,
        handleProtocols: (_offered, req) => this.chosen.get(req) ?? false,
      }),
      SpdySession: spdy.SpdySession,
    }));
    return this.transports;
  }

  private reapIdle(): void {
    const now = Date.now();
    for (const a of this.active) {
      const sock = a.socket as Socket;
      const bytes = (sock.bytesRead ?? 0) + (sock.bytesWritten ?? 0);
      if (bytes !== a.bytes) {
        a.bytes = bytes;
        a.idleSince = now;
      } else if (now - a.idleSince >= this.o.idleTimeoutMs) {
        this.o.log.info({ idleMs: now - a.idleSince }, 'closing idle streaming session');
        sock.destroy();
      }
    }
  }

  private track(socket: Duplex, done: Promise<unknown>): void {
    const a: Active = { socket, bytes: -1, idleSince: Date.now(), done };
    this.active.add(a);
    void done.finally(() => this.active.delete(a));
  }

  /**
   * The request a URL's token stands for: used up by `take`, left in place by
   * a mere look; undefined for an unknown, spent or expired token, or one of
   * another kind than the path says (which leaves it usable for its own).
   */
  private lookup(url: URL, take: boolean): StreamRequest | undefined {
    const m = PATH.exec(url.pathname);
    if (!m) return undefined;
    const kind = m[1] as StreamRequest['kind'];
    if (take) return this.tokens.take(m[2]!, kind);
    const r = this.tokens.peek(m[2]!);
    return r?.kind === kind ? r : undefined;
  }

  // A plain request starts no session, so it does not spend the token.
  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!this.lookup(new URL(req.url ?? '/', 'http://x'), false)) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('unable to upgrade: missing upgrade headers in request\n');
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const arrived = performance.now();
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://x');
    // Nor does an upgrade to something no session speaks.
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade !== 'websocket' && upgrade !== 'spdy/3.1') {
      const known = this.lookup(url, false);
      if (known) rawResponse(socket, 400, 'Bad Request', 'unable to upgrade: missing upgrade headers in request\n');
      else rawResponse(socket, 404, 'Not Found', '404 page not found\n');
      return;
    }
    const r = this.lookup(url, true);
    if (!r) {
      rawResponse(socket, 404, 'Not Found', '404 page not found\n');
      return;
    }
    const log = this.o.log.child({ stream: r.kind, ...(r.kind === 'portforward' ? { pod: r.podSandboxId } : { container: r.containerId }) });
    // Hold the client's first frames in the socket until a session reads them.
    socket.pause();
    this.loadTransports().then(
      (t) => this.upgradeWith(t, r, req, url, socket, head, arrived, log),
      (err) => {
        log.error({ err: errorMessage(err) }, 'streaming transports failed to load');
        rawResponse(socket, 500, 'Internal Server Error', 'streaming is unavailable\n');
      },
    );
  }

  private upgradeWith(
    t: Transports, r: StreamRequest, req: http.IncomingMessage, url: URL, socket: Duplex, head: Buffer, arrived: number, log: Logger,
  ): void {
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    const isCommand = r.kind !== 'portforward';
    if (upgrade === 'websocket') {
      const offered = headerList(req, 'sec-websocket-protocol');
      const supported = isCommand ? WS_COMMAND_PROTOCOLS : WS_PORTFORWARD_PROTOCOLS;
      const protocol = offered.length ? negotiate(offered, supported) : isCommand ? V1 : supported[0]!;
      if (!protocol) {
        rawResponse(socket, 400, 'Bad Request', `unable to negotiate protocol: client supports ${offered.join(', ')}, server supports ${supported.join(', ')}\n`);
        return;
      }
      if (offered.length) this.chosen.set(req, protocol);
      t.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        socket.resume();
        if (r.kind === 'portforward') {
          const q = url.searchParams.get('ports');
          const ports = q ? q.split(',').map((p) => parsePort(p.trim())) : r.ports;
          if (ports.some((p) => p === undefined)) {
            ws.close(1008, 'invalid ports');
            return;
          }
          serveWsPortForward(ws, protocol, ports as number[], (port) => this.o.target.portForward(r.podSandboxId, port), (msg, f) => log.warn(f, msg));
          this.track(socket, new Promise((res) => ws.once('close', res)));
          return;
        }
        this.track(socket, this.command(r, wsCommandChannels(ws, r, protocol), arrived, log));
      });
      return;
    }
    const offered = headerList(req, 'x-stream-protocol-version');
    const supported = isCommand ? SPDY_COMMAND_PROTOCOLS : [PORTFORWARD_PROTOCOL];
    // No offer at all is the oldest clients' way of saying the first protocol.
    const protocol = offered.length ? negotiate(offered, supported) : isCommand ? V1 : PORTFORWARD_PROTOCOL;
    if (!protocol) {
      rawResponse(socket, 403, 'Forbidden', `unable to upgrade: unable to negotiate protocol: client supports ${offered.join(', ')}, server accepts ${supported.join(', ')}\n`);
      return;
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
      (offered.length ? `X-Stream-Protocol-Version: ${protocol}\r\n` : '') + '\r\n',
    );
    (socket as Socket).setNoDelay?.(true);
    const session = new t.SpdySession(socket, { isServer: true, head });
    socket.resume();
    session.on('error', (err: Error) => log.debug({ err: err.message }, 'SPDY session error'));
    if (r.kind === 'portforward') {
      serveSpdyPortForward(session, (port) => this.o.target.portForward(r.podSandboxId, port), (msg, f) => log.warn(f, msg));
      this.track(socket, new Promise((res) => session.once('close', res)));
      return;
    }
    const ready = spdyCommandChannels(session, r, protocol);
    const done = ready.then(
      (ch) => this.command(r, ch, arrived, log),
      (err) => {
        log.warn({ err: errorMessage(err) }, 'streaming session not established');
        session.destroy();
      },
    );
    this.track(socket, done);
  }

  private command(r: StreamRequest, ch: CommandChannels, arrived: number, log: Logger): Promise<unknown> {
    if (r.kind === 'portforward') throw new Error('not a command');
    const start = r.kind === 'exec'
      ? () => this.o.target.exec(r.containerId, r.cmd, r)
      : () => this.o.target.attach(r.containerId, r);
    return runCommand(ch, start, {
      cmd: r.kind === 'exec' ? r.cmd : undefined,
      onStarted: () => this.o.metrics.execLatency.observe({ kind: r.kind }, (performance.now() - arrived) / 1000),
      onLog: (msg, err) => log.debug({ err: errorMessage(err) }, msg),
    }).then(
      (o) => log.debug({ outcome: o }, 'streaming session finished'),
      (err) => log.warn({ err: errorMessage(err) }, 'streaming session failed'),
    );
  }
}
