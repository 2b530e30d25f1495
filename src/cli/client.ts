import * as grpc from '@grpc/grpc-js';
import { loadCri } from '../cri/load.js';

export const DEFAULT_ENDPOINT = 'unix:///run/berth/berth.sock';

/** Normalises `unix:///path`, `unix:/path` or a bare path to grpc-js's target form. */
export function grpcTarget(endpoint: string): string {
  if (endpoint.startsWith('unix://')) return endpoint;
  if (endpoint.startsWith('unix:')) return `unix://${endpoint.slice(5)}`;
  if (endpoint.startsWith('/')) return `unix://${endpoint}`;
  return endpoint;
}

/** The error a failed call rejects with: gRPC code name plus the daemon's message. */
export class CallError extends Error {
  constructor(
    readonly method: string,
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`${method}: ${grpc.status[code] ?? code}: ${details}`);
    this.name = 'CallError';
  }
}

type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/**
 * A CRI client usable against any runtime endpoint (berth, containerd, CRI-O).
 * Messages are plain objects in the camel-cased shape the schema loader uses.
 */
export class CriClient {
  private readonly runtime: AnyClient;
  private readonly image: AnyClient;

  /** `authority` overrides the :authority the client sends (grpc-js sends "localhost" on a unix socket). */
  constructor(
    endpoint: string,
    private readonly timeoutMs = 10_000,
    authority?: string,
  ) {
    const { RuntimeServiceClient, ImageServiceClient } = loadCri();
    const target = grpcTarget(endpoint);
    const opts: grpc.ChannelOptions = { 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.max_send_message_length': 16 * 1024 * 1024 };
    if (authority !== undefined) opts['grpc.default_authority'] = authority;
    this.runtime = new RuntimeServiceClient(target, grpc.credentials.createInsecure(), opts) as unknown as AnyClient;
    this.image = new ImageServiceClient(target, grpc.credentials.createInsecure(), opts) as unknown as AnyClient;
  }

  private pick(method: string): AnyClient {
    const imageMethods = ['ListImages', 'ImageStatus', 'PullImage', 'RemoveImage', 'ImageFsInfo', 'StreamImages'];
    return imageMethods.includes(method) ? this.image : this.runtime;
  }

  /** A unary call; `timeoutMs` 0 means no deadline. */
  call<T = Record<string, unknown>>(method: string, req: object = {}, timeoutMs = this.timeoutMs): Promise<T> {
    const client = this.pick(method);
    const fn = client[method.charAt(0).toLowerCase() + method.slice(1)] ?? client[method];
    if (typeof fn !== 'function') return Promise.reject(new Error(`unknown CRI method ${method}`));
    const options: grpc.CallOptions = timeoutMs > 0 ? { deadline: Date.now() + timeoutMs } : {};
    return new Promise((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), options, (err: grpc.ServiceError | null, res: T) => {
        if (err) reject(new CallError(method, err.code, err.details || err.message));
        else resolve(res);
      });
    });
  }

  /**
   * A unary call whose answer is handed back encoded, not decoded: for a
   * caller that only needs to know the call succeeded and how big the answer
   * was (benchmarks: a Node client decoding a stats list of 110 pods spends
   * longer on it than the runtime answering).
   */
  callRaw(method: string, req: object = {}, timeoutMs = this.timeoutMs): Promise<Buffer> {
    const client = this.pick(method);
    const service = (client === this.image ? loadCri().ImageServiceClient : loadCri().RuntimeServiceClient).service;
    const def = service[method];
    if (!def) return Promise.reject(new Error(`unknown CRI method ${method}`));
    const options: grpc.CallOptions = timeoutMs > 0 ? { deadline: Date.now() + timeoutMs } : {};
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(def.path, def.requestSerialize, (b: Buffer) => b, req, new grpc.Metadata(), options, (err: grpc.ServiceError | null, res?: Buffer) => {
        if (err) reject(new CallError(method, err.code, err.details || err.message));
        else resolve(res ?? Buffer.alloc(0));
      });
    });
  }

  /** A server-streaming call, collecting every message. */
  stream<T = Record<string, unknown>>(method: string, req: object = {}, timeoutMs = this.timeoutMs): Promise<T[]> {
    const client = this.pick(method);
    const fn = client[method.charAt(0).toLowerCase() + method.slice(1)] ?? client[method];
    if (typeof fn !== 'function') return Promise.reject(new Error(`unknown CRI method ${method}`));
    const options: grpc.CallOptions = timeoutMs > 0 ? { deadline: Date.now() + timeoutMs } : {};
    return new Promise((resolve, reject) => {
      const out: T[] = [];
      const call = fn.call(client, req, new grpc.Metadata(), options) as grpc.ClientReadableStream<T>;
      call.on('data', (m: T) => out.push(m));
      call.on('error', (err: grpc.ServiceError) => reject(new CallError(method, err.code, err.details || err.message)));
      call.on('end', () => resolve(out));
    });
  }

  /** Opens a server stream and hands back the raw call (for GetContainerEvents). */
  open<T = Record<string, unknown>>(method: string, req: object = {}): grpc.ClientReadableStream<T> {
    const client = this.pick(method);
    const fn = client[method.charAt(0).toLowerCase() + method.slice(1)] ?? client[method];
    return fn.call(client, req) as grpc.ClientReadableStream<T>;
  }

  close(): void {
    this.runtime.close();
    this.image.close();
  }
}
