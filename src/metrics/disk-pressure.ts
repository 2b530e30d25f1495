// Disk pressure (M9): a filesystem berthd writes to used above its
// threshold. The state is a gauge, each entry into pressure an event
// (counted and logged), evaluated every few seconds and on each scrape.
import { statfs } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';
import type { Metrics } from './metrics.js';

export interface PressureCheck {
  /** The `fs` label: image or container. */
  fs: 'image' | 'container';
  /** A path on the filesystem. */
  path: string;
  /** Used share (0..1] above which the filesystem is under pressure. */
  threshold: number;
}

export class DiskPressure {
  private readonly under = new Map<string, boolean>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly checks: PressureCheck[],
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** Evaluates now, then every `everyMs` until stop(). */
  start(everyMs: number): void {
    void this.evaluate();
    this.timer = setInterval(() => void this.evaluate(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async evaluate(): Promise<void> {
    for (const c of this.checks) {
      const s = await statfs(c.path).catch(() => undefined);
      if (!s || s.blocks === 0) continue;
      // Used as `df` shows it: what unprivileged users can no longer have.
      const used = 1 - s.bavail / s.blocks;
      const now = used > c.threshold;
      const was = this.under.get(c.fs) ?? false;
      this.under.set(c.fs, now);
      this.metrics.diskPressure.set({ fs: c.fs }, now ? 1 : 0);
      if (now && !was) {
        this.metrics.diskPressureEvents.inc({ fs: c.fs });
        this.log.warn({ fs: c.fs, path: c.path, used: Math.round(used * 1000) / 1000, threshold: c.threshold }, 'disk pressure: filesystem used above its threshold');
      } else if (!now && was) {
        this.log.info({ fs: c.fs, path: c.path, used: Math.round(used * 1000) / 1000 }, 'disk pressure over');
      }
    }
  }
}
