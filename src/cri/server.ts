import { mkdirSync, chmodSync, chownSync, existsSync, unlinkSync, statSync } from 'node:fs';
import { groupId } from '../util/group.js';
import { dirname } from 'node:path';
import { connect, createServer, type Server as NetServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger.js';
import { loadCri, servedRuntimeService } from './load.js';
import { codeName, toGrpcStatus } from './status.js';
import { startCallSpan } from '../tracing/tracing.js';
import { anyAuthorityConnection } from './h2/authority.js';
import { truncate } from '../util/echo.js';
import { clampTimerMs } from '../util/timers.js';

/** What a handler gets besides its request. */
export interface CallContext {
  method: string;
  log: Logger;
  /** Aborted when the client cancels or the deadline passes. */
  signal: AbortSignal;
}

export type UnaryHandler = (req: never, ctx: CallContext) => Promise<unknown>;
export type StreamHandler = (req: never, send: (msg: unknown) => Promise<void>, ctx: CallContext) => Promise<void>;

export interface HandlerTable {
  unary: Record<string, UnaryHandler>;
  stream: Record<string, StreamHandler>;
}

/**
 * Called after every CRI call; metrics hang here. `unexpected` is true when a
 * handler failed with an error that is not a domain error (a bug: answered
 * INTERNAL, its stack logged).
 */
export type CallObserver = (method: string, code: string, seconds: number, unexpected: boolean) => void;

export interface CriServerOptions {
  socketPath: string;
  socketMode: number;
  /** Group (name or number) given the socket, so its members can reach it under socketMode; empty or absent: unchanged. */
  socketGroup?: string;
  maxMessageBytes: number;
  handlers: HandlerTable;
  log: Logger;
  observe?: CallObserver;
}

// Fields whose values identify the object a call is about; logged with it,
// cut short: they come from the client and may be of any size.
function objectIds(obj: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const o = obj as Record<string, unknown> | null;
  if (!o || typeof o !== 'object') return out;
  for (const key of ['podSandboxId', 'containerId']) {
    if (typeof o[key] === 'string' && o[key] !== '') out[key] = truncate(o[key] as string);
  }
  const image = (o.image as { image?: unknown } | undefined)?.image;
  if (typeof image === 'string' && image !== '') out.image = truncate(image);
  if (typeof o.imageRef === 'string' && o.imageRef !== '') out.imageRef = truncate(o.imageRef);
  const meta = ((o.config as { metadata?: { name?: unknown } } | undefined)?.metadata)?.name;
  if (typeof meta === 'string' && meta !== '') out.name = truncate(meta);
  return out;
}

async function probeSocket(path: string): Promise<'live' | 'stale' | 'absent'> {
  if (!existsSync(path)) return 'absent';
  if (!statSync(path).isSocket()) {
    throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  }
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve('live');
    });
    s.once('error', () => resolve('stale'));
  });
}

export class CriServer {
  private readonly server: grpc.Server;
  private readonly inflight = new Set<AbortController>();
  private listener?: NetServer;

  private constructor(private readonly opts: CriServerOptions) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_send_message_length': opts.maxMessageBytes,
    });
  }

  static async start(opts: CriServerOptions): Promise<CriServer> {
    const s = new CriServer(opts);
    await s.listen();
    return s;
  }

  private async listen(): Promise<void> {
    const { socketPath } = this.opts;
    mkdirSync(dirname(socketPath), { recursive: true });
    const state = await probeSocket(socketPath);
    if (state === 'live') {
      throw new Error(`another process is already serving on ${socketPath}; refusing to start a second daemon there`);
    }
    if (state === 'stale') {
      this.opts.log.info({ socket: socketPath }, 'replacing stale socket left by an earlier run');
      unlinkSync(socketPath);
    }
    const { imageService } = loadCri();
    const runtimeService = servedRuntimeService();
    this.server.addService(runtimeService, this.implement('RuntimeService', runtimeService));
    this.server.addService(imageService, this.implement('ImageService', imageService));
    // berthd accepts the socket's connections itself and hands them to
    // grpc-js through a layer that lets any :authority in (see
    // h2/authority.ts): grpc-go clients of kubelet's era send the socket path.
    // Message limits, keepalive and shutdown stay grpc-js's.
    const injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const listener = createServer((socket) => injector.injectConnection(anyAuthorityConnection(socket)));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(socketPath, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    listener.on('error', (err) => this.opts.log.error({ err: err.message }, 'CRI socket error'));
    this.listener = listener;
    chmodSync(socketPath, this.opts.socketMode);
    if (this.opts.socketGroup) chownSync(socketPath, -1, groupId(this.opts.socketGroup));
  }

  private implement(service: string, def: grpc.ServiceDefinition): grpc.UntypedServiceImplementation {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(def)) {
      const full = `${service}/${name}`;
      if (method.responseStream) {
        impl[name] = this.wrapStream(full, this.opts.handlers.stream[name]);
      } else {
        impl[name] = this.wrapUnary(full, this.opts.handlers.unary[name]);
      }
    }
    return impl;
  }

  private begin(call: { on(event: 'cancelled', fn: () => void): unknown }, full: string) {
    const ac = new AbortController();
    this.inflight.add(ac);
    call.on('cancelled', () => ac.abort(new Error('call cancelled by client')));
    const ctx: CallContext = { method: full, log: this.opts.log.child({ method: full }), signal: ac.signal };
    const started = process.hrtime.bigint();
    const span = startCallSpan(full);
    const finish = (code: grpc.status, fields: Record<string, unknown>, err?: string, unexpected?: Error) => {
      this.inflight.delete(ac);
      span?.finish(codeName(code), code === grpc.status.OK, err);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const codeStr = codeName(code);
      this.opts.observe?.(full, codeStr, seconds, unexpected !== undefined);
      const rec = { ...fields, code: codeStr, durationMs: Math.round(seconds * 1e6) / 1e3 };
      if (code === grpc.status.OK) ctx.log.debug(rec, 'cri call');
      else if (unexpected) ctx.log.error({ ...rec, err, stack: truncate(unexpected.stack ?? '', 8192) }, 'cri call failed: unexpected error in handler');
      else if (code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN) ctx.log.error({ ...rec, err }, 'cri call failed');
      else ctx.log.warn({ ...rec, err }, 'cri call failed');
    };
    // Handlers run inside the call's span so the domain's spans become its
    // children; one that throws before returning its promise fails the same way.
    const run = <T>(fn: () => Promise<T>): Promise<T> => new Promise<T>((resolve) => resolve(span ? span.run(fn) : fn()));
    return { ctx, finish, run };
  }

  private wrapUnary(full: string, handler: UnaryHandler | undefined): grpc.handleUnaryCall<unknown, unknown> {
    return (call, callback) => {
      const { ctx, finish, run } = this.begin(call, full);
      const ids = objectIds(call.request);
      if (!handler) {
        const details = `${full} is not implemented by berth`;
        finish(grpc.status.UNIMPLEMENTED, ids, details);
        callback({ code: grpc.status.UNIMPLEMENTED, details });
        return;
      }
      run(() => handler(call.request as never, ctx)).then(
        (res) => {
          finish(grpc.status.OK, { ...ids, ...objectIds(res) });
          callback(null, res);
        },
        (err: unknown) => {
          const st = toGrpcStatus(err);
          finish(st.code, ids, st.details, st.unexpected);
          callback({ code: st.code, details: st.details });
        },
      );
    };
  }

  private wrapStream(full: string, handler: StreamHandler | undefined): grpc.handleServerStreamingCall<unknown, unknown> {
    return (call) => {
      const { ctx, finish, run } = this.begin(call, full);
      const ids = objectIds(call.request);
      if (!handler) {
        const details = `${full} is not implemented by berth`;
        finish(grpc.status.UNIMPLEMENTED, ids, details);
        call.emit('error', { code: grpc.status.UNIMPLEMENTED, details });
        return;
      }
      // Respect backpressure: a slow reader holds the handler, not our memory.
      const send = (msg: unknown): Promise<void> =>
        new Promise((resolve, reject) => {
          if (ctx.signal.aborted) return reject(ctx.signal.reason);
          if (call.write(msg)) resolve();
          else call.once('drain', () => resolve());
        });
      run(() => handler(call.request as never, send, ctx)).then(
        () => {
          finish(grpc.status.OK, ids);
          call.end();
        },
        (err: unknown) => {
          const st = toGrpcStatus(err);
          finish(st.code, ids, st.details, st.unexpected);
          if (!ctx.signal.aborted) call.emit('error', { code: st.code, details: st.details });
        },
      );
    };
  }

  /** Stops accepting calls, lets in-flight ones finish, forces after timeoutMs. */
  async shutdown(timeoutMs: number): Promise<void> {
    this.listener?.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.opts.log.warn({ inflight: this.inflight.size }, 'shutdown timeout: cancelling in-flight calls');
        for (const ac of this.inflight) ac.abort(new Error('daemon shutting down'));
        this.server.forceShutdown();
        resolve();
      }, clampTimerMs(timeoutMs));
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    try {
      unlinkSync(this.opts.socketPath);
    } catch {
      // already gone
    }
  }
}
