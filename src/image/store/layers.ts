// Unpacked layers, one directory per diff ID: <root>/layers/<hex>. Shared by
// every image that has the layer; overlayfs stacks them as lowerdirs. A layer
// directory exists only complete: it is unpacked under a temporary name and
// renamed into place.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from './content.js';

export class LayerStore {
  readonly dir: string;
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(root: string) {
    this.dir = join(root, 'layers');
    mkdirSync(this.dir, { recursive: true, mode: 0o711 });
  }

  /** Removes half-unpacked layers left by a crash. */
  cleanupTemp(): number {
    const left = readdirSync(this.dir).filter((f) => f.startsWith('.tmp-'));
    for (const f of left) rmSync(join(this.dir, f), { recursive: true, force: true });
    return left.length;
  }

  path(diffId: string): string {
    return join(this.dir, diffId.slice('sha256:'.length));
  }

  has(diffId: string): boolean {
    return existsSync(this.path(diffId));
  }

  list(): string[] {
    return readdirSync(this.dir).filter((f) => /^[a-f0-9]{64}$/.test(f)).map((f) => `sha256:${f}`);
  }

  async remove(diffId: string): Promise<void> {
    // Rename first so a crash mid-delete never leaves a half layer under the real name.
    const p = this.path(diffId);
    if (!existsSync(p)) return;
    const tmp = join(this.dir, `.tmp-rm-${randomBytes(4).toString('hex')}`);
    await rename(p, tmp);
    await rm(tmp, { recursive: true, force: true });
  }

  /**
   * Makes layer `diffId` present unless it is: `produce` fills a fresh
   * temporary directory (and may be retried by its own logic after emptying
   * it); the directory is renamed into place only when `produce` succeeds.
   * Concurrent callers for the same layer share one run.
   */
  ensure(diffId: string, produce: (dest: string) => Promise<void>): Promise<void> {
    if (this.has(diffId)) return Promise.resolve();
    let p = this.inflight.get(diffId);
    if (!p) {
      p = this.make(diffId, produce).finally(() => this.inflight.delete(diffId));
      this.inflight.set(diffId, p);
    }
    return p;
  }

  private async make(diffId: string, produce: (dest: string) => Promise<void>): Promise<void> {
    const tmp = join(this.dir, `.tmp-${diffId.slice(7, 19)}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp, { mode: 0o755 });
    try {
      await produce(tmp);
      await rename(tmp, this.path(diffId));
      await syncDir(this.dir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }
}
