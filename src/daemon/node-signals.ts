// The node-level signals berthd measures besides its calls: disk usage and
// pressure of the filesystems it writes, and OOM kills per pod. Refreshed on
// each scrape (bounded), disk pressure also on a timer so its events are
// counted and logged without a scraper.
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EventBus } from '../events/bus.js';
import type { ImageService } from '../image/service.js';
import type { SandboxService } from '../sandbox/service.js';
import type { ContainerService } from '../container/service.js';
import type { StatsService } from '../stats/service.js';
import { DiskPressure } from '../metrics/disk-pressure.js';
import { PodOomKills } from '../stats/oom.js';
import { cgroupReader } from '../stats/cgroup.js';

// The image store walk behind the disk-usage gauges is bounded to one per this interval.
const FS_GAUGE_TTL_MS = 10_000;
const PRESSURE_EVERY_MS = 10_000;

export interface NodeSignalSources {
  config: Config;
  log: Logger;
  metrics: Metrics;
  events: EventBus;
  images: ImageService;
  sandboxes: SandboxService;
  containers: ContainerService;
  stats: StatsService;
}

export class NodeSignals {
  private fsAt = 0;
  private readonly pressure: DiskPressure;
  private readonly oom: PodOomKills;
  private readonly unsubscribe: () => void;

  constructor(private readonly s: NodeSignalSources) {
    const { config, metrics, log } = s;
    this.pressure = new DiskPressure([
      { fs: 'image', path: join(config.daemon.root, 'images'), threshold: Number(config.metrics.image_fs_pressure) },
      { fs: 'container', path: join(config.daemon.root, 'containers'), threshold: Number(config.metrics.container_fs_pressure) },
    ], metrics, log);
    this.oom = new PodOomKills(cgroupReader(), metrics.podOomKills, Date.now());
    // A cgroup's count is read one last time just before it goes: pod and
    // container removals publish `deleted` before the runtime removes them.
    this.unsubscribe = s.events.subscribe((e) => {
      if (e.type !== 'deleted') return;
      const sb = s.sandboxes.find(e.podSandboxId);
      if (!sb) return;
      if (e.containerId === e.podSandboxId) this.oom.podGone(sb);
      else this.oom.containerGone(sb, e.containerId);
    });
  }

  start(): void {
    this.pressure.start(PRESSURE_EVERY_MS);
  }

  /** What a scrape reads fresh. */
  async refresh(): Promise<void> {
    for (const sb of this.s.sandboxes.list()) this.oom.observePod(sb, this.s.containers.inPod(sb.id));
    if (Date.now() - this.fsAt < FS_GAUGE_TTL_MS) return;
    this.fsAt = Date.now();
    const [, layers, fs] = await Promise.all([this.s.images.fsUsage(), this.s.stats.writableLayersBytes(), statfs(this.s.config.daemon.root), this.pressure.evaluate()]);
    this.s.metrics.containerFsBytes.set(layers);
    this.s.metrics.imageFsAvailableBytes.set(fs.bavail * fs.bsize);
    this.s.metrics.imageFsSizeBytes.set(fs.blocks * fs.bsize);
  }

  stop(): void {
    this.pressure.stop();
    this.unsubscribe();
  }
}
