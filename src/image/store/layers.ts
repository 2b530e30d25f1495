// Unpacked layers, one directory per diff ID: <root>/layers/<hex>. Shared by
// every image that has the layer; overlayfs stacks them as lowerdirs. A layer
// directory exists only complete: it is unpacked under a temporary name and
// renamed into place.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { unpackLayer, type UnpackResult } from './unpack.js';
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

  /** Unpacks `blob` as layer `diffId` unless present; concurrent callers share the work. */
  ensure(diffId: string, blob: string, registry: string, onDone?: (r: UnpackResult) => void): Promise<void> {
    if (this.has(diffId)) return Promise.resolve();
    let p = this.inflight.get(diffId);
    if (!p) {
      p = this.unpack(diffId, blob, registry, onDone).finally(() => this.inflight.delete(diffId));
      this.inflight.set(diffId, p);
    }
    return p;
  }

  private async unpack(diffId: string, blob: string, registry: string, onDone?: (r: UnpackResult) => void): Promise<void> {
    const tmp = join(this.dir, `.tmp-${diffId.slice(7, 19)}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp, { mode: 0o755 });
    try {
      const r = await unpackLayer(blob, tmp, diffId, registry);
      await rename(tmp, this.path(diffId));
      await syncDir(this.dir);
      onDone?.(r);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }
}
