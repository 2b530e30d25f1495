// Content-addressed blobs: <root>/blobs/sha256/<hex>. A blob becomes visible
// only complete and verified: it is written to <root>/ingest, its digest and
// size checked while streaming, fsynced, then renamed into place. Concurrent
// requests for the same digest share one download.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PullError } from '../pull-error.js';

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
    await this.write(digest, data.length, [data], registry);
  }

  /**
   * Streams `body` into the store, verifying digest and size; on any failure
   * nothing is left behind. `onBytes` sees progress.
   */
  async write(digest: string, size: number, body: Readable | Iterable<Buffer>, registry: string, onBytes?: (n: number) => void): Promise<void> {
    if (this.has(digest)) {
      if (body instanceof Object && 'destroy' in body) (body as Readable).destroy();
      return;
    }
    const tmp = join(this.ingestDir, `${digest.slice(7)}.${randomBytes(4).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o600);
    const hash = createHash('sha256');
    let n = 0;
    let ok = false;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        n += chunk.length;
        if (n > size) throw new PullError('digest_mismatch', registry, `blob ${digest} is longer than the ${size} bytes its descriptor says`);
        hash.update(chunk);
        await fh.write(chunk);
        onBytes?.(chunk.length);
      }
      if (n < size) throw new PullError('truncated', registry, `blob ${digest} ended after ${n} of ${size} bytes`);
      const got = 'sha256:' + hash.digest('hex');
      if (got !== digest) throw new PullError('digest_mismatch', registry, `blob ${digest} has digest ${got}: content does not match`);
      await fh.sync();
      ok = true;
    } catch (err) {
      if ('destroy' in (body as object)) (body as Readable).destroy();
      const code = (err as { code?: string }).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new PullError('disk_full', registry, `no space left storing blob ${digest}`, { cause: err });
      throw err;
    } finally {
      await fh.close();
      if (!ok) await unlink(tmp).catch(() => undefined);
    }
    await rename(tmp, this.path(digest));
    await syncDir(this.blobs);
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
