// The directories of each container's writable layer, on the disk under
// <daemon.root>/containers/<id>/fs: `upper` (what the container writes) and
// `work` (overlayfs's scratch space). Making them is four ext4 mkdirs, 1-2.5 ms
// on this kind of VM and on the container start path; a few sets made ahead
// of time (`.spare-*`, away from the start path) are renamed into place
// instead, one rename.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

const SPARE_PREFIX = '.spare-';
const REFILL_DELAY_MS = 200;

export class WritableLayerDirs {
  private readonly spares: string[] = [];
  private refill?: NodeJS.Timeout;
  private filling = false;

  constructor(
    private readonly base: string,
    private readonly keep = 4,
  ) {}

  upper(id: string): string {
    return join(this.base, id, 'fs', 'upper');
  }

  work(id: string): string {
    return join(this.base, id, 'fs', 'work');
  }

  /** Takes over the spares a previous run made (whole ones; a half-made one goes) and tops the pool up later. */
  async open(): Promise<void> {
    const names = await readdir(this.base).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.startsWith(SPARE_PREFIX))) {
      const dir = join(this.base, name);
      const [upper, work] = await Promise.all(['upper', 'work'].map((d) => readdir(join(dir, 'fs', d)).catch(() => undefined)));
      if (upper?.length === 0 && work?.length === 0 && this.spares.length < this.keep) this.spares.push(dir);
      else await rm(dir, { recursive: true, force: true });
    }
    this.refillSoon();
  }

  /** Makes `<base>/<id>/fs/{upper,work}`, empty: a spare renamed into place, or made now when none is left. */
  async make(id: string): Promise<void> {
    const spare = this.spares.pop();
    this.refillSoon();
    if (spare) {
      try {
        await rename(spare, join(this.base, id));
        return;
      } catch {
        // Gone meanwhile (removed by hand): make them below.
      }
    }
    await Promise.all([mkdir(this.upper(id), { recursive: true }), mkdir(this.work(id), { recursive: true })]);
  }

  /** Stops topping the pool up (daemon shutdown); the spares stay for the next run. */
  close(): void {
    clearTimeout(this.refill);
  }

  // Later, not now: the directories of a burst of creations would otherwise
  // compete with the mounts of those same creations on the thread pool.
  private refillSoon(): void {
    if (this.refill || this.filling) return;
    this.refill = setTimeout(() => {
      this.refill = undefined;
      void this.fill();
    }, REFILL_DELAY_MS);
    this.refill.unref();
  }

  private async fill(): Promise<void> {
    this.filling = true;
    try {
      while (this.spares.length < this.keep) {
        const dir = join(this.base, `${SPARE_PREFIX}${randomBytes(8).toString('hex')}`);
        await Promise.all([mkdir(join(dir, 'fs', 'upper'), { recursive: true }), mkdir(join(dir, 'fs', 'work'), { recursive: true })]);
        this.spares.push(dir);
      }
    } catch {
      // A full or read-only disk: creations make their own until it recovers.
    } finally {
      this.filling = false;
    }
  }
}
