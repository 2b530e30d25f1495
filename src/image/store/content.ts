// Content-addressed blobs: <root>/blobs/sha256/<hex>. A blob becomes visible
// only complete and verified: it is written to <root>/ingest, its digest and
// size checked while streaming, fsynced, then renamed into place. Concurrent
// requests for the same digest share one download.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open, readFile, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PullError } from '../errors/pull-error.js';

const WRITE_BATCH = 1 << 20;

export class ContentStore {
  readonly blobs: string;
  readonly ingestDir: string;
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(root: string) {
    this.blobs = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
    mkdirSync(this.blobs, { recursive: true, mode: 0o700 });
    mkdirSync(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  /** Removes partial downloads left by a crash. Call before serving. */
  cleanupIngest(): number {
    const left = readdirSync(this.ingestDir);
    for (const f of left) rmSync(join(this.ingestDir, f), { force: true, recursive: true });
    return left.length;
  }

  path(digest: string): string {
    return join(this.blobs, digest.slice('sha256:'.length));
  }

  has(digest: string): boolean {
    return existsSync(this.path(digest));
  }

  size(digest: string): number {
    return statSync(this.path(digest)).size;
  }

  list(): string[] {
    return readdirSync(this.blobs).filter((f) => /^[a-f0-9]{64}$/.test(f)).map((f) => `sha256:${f}`);
  }

  read(digest: string): Promise<Buffer> {
    return readFile(this.path(digest));
  }

  async remove(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /** Runs `fetch` once for concurrent callers wanting the same digest. */
  shared(digest: string, fetch: () => Promise<void>): Promise<void> {
    if (this.has(digest)) return Promise.resolve();
    let p = this.inflight.get(digest);
    if (!p) {
      p = fetch().finally(() => this.inflight.delete(digest));
      this.inflight.set(digest, p);
    }
    return p;
  }

  /** Stores a small blob held in memory (manifests, configs) after checking its digest. */
  async put(digest: string, data: Buffer, registry = 'local'): Promise<void> {
    await this.write(digest, data.length, Readable.from([data]), registry);
  }

  /** Streams `body` into the store, verifying digest and size; on failure nothing is left behind. */
  async write(digest: string, size: number, body: Readable, registry: string, onBytes?: (n: number) => void): Promise<void> {
    if (this.has(digest)) {
      body.destroy();
      return;
    }
    await pipeline(body, this.writer(digest, size, registry, onBytes), new Writable({ write: (_c, _e, cb) => cb() }));
  }

  /**
   * A pass-through stage that stores what flows through it as blob `digest`:
   * it hashes and writes each chunk before passing it on, so a layer can be
   * unpacked while it downloads. At the end it checks size and digest, fsyncs
   * and renames the blob into place; on error or an early end it removes the
   * partial file.
   */
  writer(digest: string, size: number, registry: string, onBytes?: (n: number) => void): Transform {
    const tmp = join(this.ingestDir, `${digest.slice(7)}.${randomBytes(4).toString('hex')}`);
    const final = this.path(digest);
    const blobs = this.blobs;
    const hash = createHash('sha256');
    let fh: FileHandle | undefined;
    let n = 0;
    let committed = false;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flushPending = async (): Promise<void> => {
      const bufs = pending;
      pending = [];
      pendingBytes = 0;
      if (bufs.length) await fh!.writev(bufs);
    };
    const fail = (err: unknown): Error => {
      const code = (err as { code?: string }).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') return new PullError('disk_full', registry, `no space left storing blob ${digest}`, { cause: err });
      return err as Error;
    };
    return new Transform({
      construct(cb) {
        open(tmp, 'wx', 0o600).then((h) => {
          fh = h;
          cb();
        }, (err: unknown) => cb(fail(err)));
      },
      transform(chunk: Buffer, _e, cb) {
        n += chunk.length;
        if (n > size) {
          cb(new PullError('digest_mismatch', registry, `blob ${digest} is longer than the ${size} bytes its descriptor says`));
          return;
        }
        hash.update(chunk);
        onBytes?.(chunk.length);
        // Network chunks are small; one writev per MiB saves thread-pool round trips.
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes < WRITE_BATCH) {
          cb(null, chunk);
          return;
        }
        flushPending().then(() => cb(null, chunk), (err: unknown) => cb(fail(err)));
      },
      flush(cb) {
        if (n < size) {
          cb(new PullError('truncated', registry, `blob ${digest} ended after ${n} of ${size} bytes`));
          return;
        }
        const got = 'sha256:' + hash.digest('hex');
        if (got !== digest) {
          cb(new PullError('digest_mismatch', registry, `blob ${digest} has digest ${got}: content does not match`));
          return;
        }
        (async () => {
          await flushPending();
          await fh!.sync();
          await fh!.close();
          fh = undefined;
          await rename(tmp, final);
          committed = true;
          await syncDir(blobs);
        })().then(() => cb(), (err: unknown) => cb(fail(err)));
      },
      destroy(err, cb) {
        const h = fh;
        fh = undefined;
        (async () => {
          await h?.close().catch(() => undefined);
          if (!committed) await unlink(tmp).catch(() => undefined);
        })().then(() => cb(err), () => cb(err));
      },
    });
  }
}

/** Makes a rename durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
