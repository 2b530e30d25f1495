// Worker thread side of UnpackPool: runs unpackStream/unpackFile off the
// main thread, one job at a time, fed chunk by chunk over postMessage with
// acknowledgements for backpressure. Messages of other (finished) jobs are
// ignored.
import { parentPort } from 'node:worker_threads';
import { PassThrough } from 'node:stream';
import { PullError } from '../errors/pull-error.js';
import { unpackFile, unpackStream, type UnpackResult } from './unpack.js';

export type ToWorker =
  | { op: 'stream'; id: number; dest: string; diffId: string; registry: string }
  | { op: 'file'; id: number; path: string; dest: string; diffId: string; registry: string }
  | { op: 'chunk'; id: number; data: ArrayBuffer }
  | { op: 'end'; id: number }
  | { op: 'abort'; id: number; message: string };

export type FromWorker =
  | { op: 'ack'; id: number; bytes: number }
  | { op: 'done'; id: number; result: UnpackResult }
  | { op: 'error'; id: number; message: string; reason?: PullError['reason']; registry?: string; kind?: string };

const port = parentPort!;
let job: { id: number; source?: PassThrough } | undefined;

function post(m: FromWorker): void {
  port.postMessage(m);
}

function finish(id: number, p: Promise<UnpackResult>): void {
  p.then(
    (result) => post({ op: 'done', id, result }),
    (err: unknown) => {
      const e = err as Error;
      if (err instanceof PullError) post({ op: 'error', id, message: e.message, reason: err.reason, registry: err.registry });
      else post({ op: 'error', id, message: e.message ?? String(err), kind: (err as { name?: string }).name });
    },
  ).finally(() => {
    if (job?.id === id) job = undefined;
  });
}

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'stream': {
      const source = new PassThrough({ highWaterMark: 1 << 20 });
      job = { id: m.id, source };
      finish(m.id, unpackStream(source, m.dest, m.diffId, m.registry));
      break;
    }
    case 'file':
      job = { id: m.id };
      finish(m.id, unpackFile(m.path, m.dest, m.diffId, m.registry));
      break;
    case 'chunk': {
      if (job?.id !== m.id || !job.source) return;
      const b = Buffer.from(m.data);
      job.source.write(b, () => post({ op: 'ack', id: m.id, bytes: b.length }));
      break;
    }
    case 'end':
      if (job?.id === m.id) job.source?.end();
      break;
    case 'abort':
      if (job?.id === m.id) job.source?.destroy(new Error(m.message));
      break;
  }
});
