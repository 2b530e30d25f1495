// Layer unpacking on worker threads. Decompressing, hashing and parsing a
// layer costs about as much CPU as downloading it; on the main thread that
// serializes with HTTP and blob hashing. Workers let a pull use every core,
// as containerd's goroutines do. Workers are kept for reuse and unref'd.
import { Worker } from 'node:worker_threads';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PullError } from '../errors/pull-error.js';
import type { UnpackResult } from './unpack.js';
import type { FromWorker, ToWorker } from './unpack-worker.js';

const WORKER = new URL('./unpack-worker.js', import.meta.url);
/** Bytes in flight to a worker before the sender waits. */
const HIGH_WATER = 4 << 20;
const BATCH = 256 << 10;

type Job = Omit<Extract<ToWorker, { op: 'stream' }>, 'op' | 'id'>;

export class UnpackPool {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private nextId = 1;
  private reaper?: NodeJS.Timeout;

  /**
   * @param idleMs how long a worker with nothing to do is kept. Each worker
   * holds its own V8 heap (about 30 MB resident), which a node that pulls
   * rarely should not pay for; a burst of pulls still reuses them.
   */
  constructor(private readonly idleMs = 10_000) {}

  private park(w: Worker): void {
    this.idle.push(w);
    clearTimeout(this.reaper);
    this.reaper = setTimeout(() => {
      for (const idle of this.idle.splice(0)) {
        this.all.delete(idle);
        void idle.terminate();
      }
    }, this.idleMs);
    this.reaper.unref();
  }

  private acquire(): Worker {
    const w = this.idle.pop();
    if (w) return w;
    const nw = new Worker(WORKER);
    nw.unref();
    nw.on('error', () => this.all.delete(nw));
    nw.on('exit', () => this.all.delete(nw));
    this.all.add(nw);
    return nw;
  }

  private run(start: (w: Worker, id: number) => void, onAck?: (bytes: number) => void): { id: number; worker: Worker; done: Promise<UnpackResult> } {
    const worker = this.acquire();
    const id = this.nextId++;
    const done = new Promise<UnpackResult>((resolve, reject) => {
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      const onMessage = (m: FromWorker): void => {
        if (m.id !== id) return;
        if (m.op === 'ack') {
          onAck?.(m.bytes);
          return;
        }
        cleanup();
        this.park(worker);
        if (m.op === 'done') resolve(m.result);
        else if (m.reason && m.registry !== undefined) {
          const prefix = `registry ${m.registry}: `;
          reject(new PullError(m.reason, m.registry, m.message.startsWith(prefix) ? m.message.slice(prefix.length) : m.message));
        } else {
          const e = new Error(m.message);
          if (m.kind) e.name = m.kind;
          reject(e);
        }
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      worker.on('message', onMessage);
      worker.once('error', onError);
    });
    start(worker, id);
    return { id, worker, done };
  }

  /** Unpacks the layer flowing from `source` (see unpackStream) on a worker. */
  async unpackStream(source: Readable, job: Job): Promise<UnpackResult> {
    let outstanding = 0;
    let waiting: (() => void) | undefined;
    const { id, worker, done } = this.run(
      (w, jid) => w.postMessage({ op: 'stream', id: jid, ...job } satisfies ToWorker),
      (bytes) => {
        outstanding -= bytes;
        if (waiting && outstanding < HIGH_WATER) {
          const go = waiting;
          waiting = undefined;
          go();
        }
      },
    );
    // Network chunks are small: batch them so each message carries ~256 KiB
    // in a buffer of its own, transferred rather than cloned.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const send = (): void => {
      if (!pendingBytes) return;
      const data = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      const ab = data.buffer.byteLength === data.byteLength ? data.buffer as ArrayBuffer : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
      outstanding += data.byteLength;
      worker.postMessage({ op: 'chunk', id, data: ab } satisfies ToWorker, [ab]);
    };
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        pending.push(chunk);
        pendingBytes += chunk.byteLength;
        if (pendingBytes >= BATCH) send();
        if (outstanding < HIGH_WATER) cb();
        else waiting = cb;
      },
      final(cb) {
        send();
        worker.postMessage({ op: 'end', id } satisfies ToWorker);
        cb();
      },
    });
    // A failed job stops reading: end the feed so the source is released.
    done.catch(() => sink.destroy(new Error('unpack failed')));
    const fed = pipeline(source, sink).catch((err: Error) => {
      worker.postMessage({ op: 'abort', id, message: err.message } satisfies ToWorker);
      const go = waiting;
      waiting = undefined;
      go?.();
    });
    const result = await done;
    await fed;
    return result;
  }

  unpackFile(path: string, job: Job): Promise<UnpackResult> {
    return this.run((w, id) => w.postMessage({ op: 'file', id, path, ...job } satisfies ToWorker)).done;
  }

  async close(): Promise<void> {
    clearTimeout(this.reaper);
    await Promise.all([...this.all].map((w) => w.terminate()));
    this.all.clear();
    this.idle.length = 0;
  }
}
