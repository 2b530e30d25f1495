// OOM kills per pod, from the kernel's own counts in the pod's and its
// containers' cgroups (a process the OOM killer picks inside a container
// that keeps running is counted too, which the container's exit reason
// alone would miss). Counts are read on each scrape and once more just
// before a cgroup goes, and what each cgroup's count grew by is added to the
// pod's series.
import type { Counter } from 'prom-client';
import type { Sandbox } from '../sandbox/types.js';
import type { CgroupReader } from './cgroup.js';
import { containerCgroupPath } from '../cgroup/host.js';

export class PodOomKills {
  /** Last count seen per cgroup path. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly reader: CgroupReader,
    private readonly counter: Counter<'namespace' | 'pod'>,
    /** Cgroups made before this (a restarted berthd's) start only count from what they show then. */
    private readonly since: number,
  ) {}

  /** Reads the pod's cgroups (its own, and on v1 each container's: v2 counts descendants in the pod's). */
  observePod(sb: Sandbox, containers: { id: string; createdAt: number }[]): void {
    this.observe(sb, sb.cgroupParent, sb.createdAt);
    if (this.reader.version === 'v1') for (const c of containers) this.observe(sb, containerCgroupPath(sb.cgroupParent, c.id), c.createdAt);
  }

  /** A container's cgroup is about to go: its last count is taken, then it is forgotten. */
  containerGone(sb: Sandbox, containerId: string): void {
    if (this.reader.version !== 'v1') return;
    const path = containerCgroupPath(sb.cgroupParent, containerId);
    // Never seen by a scrape: it counts from zero, as almost every such
    // container was made since this berthd started.
    this.observe(sb, path, this.since);
    this.seen.delete(path);
  }

  /** The pod's cgroups are about to go. */
  podGone(sb: Sandbox): void {
    this.observe(sb, sb.cgroupParent, sb.createdAt);
    for (const path of [...this.seen.keys()]) if (path === sb.cgroupParent || path.startsWith(`${sb.cgroupParent}/`)) this.seen.delete(path);
  }

  private observe(sb: Sandbox, path: string, createdAt: number): void {
    const now = this.reader.oomKills(path);
    if (now === undefined) return;
    // A cgroup first seen counts from zero if it was made while this berthd
    // ran, else from what it shows now (kills before a restart were counted
    // by the previous run).
    const before = this.seen.get(path) ?? (createdAt >= this.since ? 0 : now);
    this.seen.set(path, now);
    if (now > before) this.counter.inc({ namespace: sb.config.namespace, pod: sb.config.name }, now - before);
  }
}
