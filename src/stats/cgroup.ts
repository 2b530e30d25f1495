// Cgroup readers for container and pod stats. Each read is a handful of small
// pseudo-files read synchronously (see read.ts for why): no process is
// spawned, so a stats call for 100 pods stays in the low milliseconds.
import { detectCgroupVersion, type CgroupVersion } from '../cgroup/host.js';
import { readSmall } from './read.js';
import { join } from 'node:path';


export interface MemorySample {
  usageBytes: number;
  workingSetBytes: number;
  rssBytes: number;
  pageFaults: number;
  majorPageFaults: number;
  /** Limit minus working set; undefined when the cgroup has no limit. */
  availableBytes?: number;
}

export interface CgroupSample {
  /** Cumulative CPU time of every task in the cgroup, nanoseconds. */
  cpuUsageNs?: number;
  memory?: MemorySample;
  pids?: number;
  /** When the files were read, nanoseconds since the epoch. */
  atNs: number;
}

function num(path: string): number | undefined {
  const t = readSmall(path);
  if (t === undefined) return undefined;
  const s = t.trim();
  if (s === 'max') return Infinity;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** Parses "key value" lines (memory.stat, cpu.stat). */
export function parseKeyed(t: string | undefined): Map<string, number> {
  const m = new Map<string, number>();
  if (!t) return m;
  for (const line of t.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const v = Number(line.slice(sp + 1));
    if (Number.isFinite(v)) m.set(line.slice(0, sp), v);
  }
  return m;
}

// v1 reports "no limit" as the largest page-aligned int64; anything this big is unlimited.
const V1_UNLIMITED = 2 ** 62;

function memory(usage: number | undefined, limit: number | undefined, inactiveFile: number, rss: number, pgfault: number, pgmajfault: number): MemorySample | undefined {
  if (usage === undefined) return undefined;
  // Working set as kubelet and cAdvisor define it: usage minus what the kernel can drop at once.
  const workingSetBytes = Math.max(0, usage - inactiveFile);
  const m: MemorySample = { usageBytes: usage, workingSetBytes, rssBytes: rss, pageFaults: pgfault, majorPageFaults: pgmajfault };
  if (limit !== undefined && Number.isFinite(limit) && limit < V1_UNLIMITED) m.availableBytes = Math.max(0, limit - workingSetBytes);
  return m;
}

/**
 * cgroup v1: one hierarchy per controller under `base` (cpuacct, memory, pids;
 * `cpuacct` may be a symlink to `cpu,cpuacct`). `path` is the cgroup path as
 * given to runc (`/parent/id`).
 */
export function readCgroupV1(base: string, path: string): CgroupSample {
  const mem = join(base, 'memory', path);
  const cpu = num(join(base, 'cpuacct', path, 'cpuacct.usage'));
  const usage = num(join(mem, 'memory.usage_in_bytes'));
  const limit = num(join(mem, 'memory.limit_in_bytes'));
  const stat = readSmall(join(mem, 'memory.stat'));
  const pids = num(join(base, 'pids', path, 'pids.current'));
  const s = parseKeyed(stat);
  // total_* include descendants (and total_rss the transparent huge pages), which a pod-level cgroup needs.
  const g = (k: string): number => s.get(`total_${k}`) ?? s.get(k) ?? 0;
  return {
    cpuUsageNs: cpu,
    memory: memory(usage, limit, g('inactive_file'), g('rss'), g('pgfault'), g('pgmajfault')),
    pids,
    atNs: nowNs(),
  };
}

/** cgroup v2: every controller's files in the one directory `base/path`. */
export function readCgroupV2(base: string, path: string): CgroupSample {
  const dir = join(base, path);
  const cpuStat = readSmall(join(dir, 'cpu.stat'));
  const usage = num(join(dir, 'memory.current'));
  const limit = num(join(dir, 'memory.max'));
  const stat = readSmall(join(dir, 'memory.stat'));
  const pids = num(join(dir, 'pids.current'));
  const c = parseKeyed(cpuStat);
  const s = parseKeyed(stat);
  const usec = c.get('usage_usec');
  return {
    cpuUsageNs: usec === undefined ? undefined : usec * 1000,
    memory: memory(usage, limit, s.get('inactive_file') ?? 0, s.get('anon') ?? 0, s.get('pgfault') ?? 0, s.get('pgmajfault') ?? 0),
    pids,
    atNs: nowNs(),
  };
}

export function nowNs(): number {
  return Date.now() * 1e6;
}

export interface CgroupReader {
  readonly version: CgroupVersion;
  read(path: string): CgroupSample;
  /**
   * Processes the OOM killer killed in the cgroup: on v1 those of this
   * cgroup alone (memory.oom_control), on v2 of it and its descendants
   * (memory.events); undefined when the cgroup is gone.
   */
  oomKills(path: string): number | undefined;
}

export function cgroupReader(base = '/sys/fs/cgroup', version = detectCgroupVersion(base)): CgroupReader {
  return {
    version,
    read: (p) => (version === 'v2' ? readCgroupV2(base, p) : readCgroupV1(base, p)),
    oomKills: (p) => parseKeyed(readSmall(version === 'v2' ? join(base, p, 'memory.events') : join(base, 'memory', p, 'memory.oom_control'))).get('oom_kill'),
  };
}

/**
 * Usage in nano cores from successive samples of a cumulative counter. The
 * previous sample is kept per key; two callers polling close together (kubelet
 * and an operator's crictl) would otherwise see rates over a few
 * milliseconds, so a sample younger than `minIntervalNs` is measured against
 * the one before and does not replace it.
 */
export class CpuRates {
  private readonly last = new Map<string, { prev?: { ns: number; at: number }; cur: { ns: number; at: number } }>();

  constructor(private readonly minIntervalNs = 1e9) {}

  rate(key: string, usageNs: number, atNs: number): number | undefined {
    const e = this.last.get(key);
    const sample = { ns: usageNs, at: atNs };
    if (!e) {
      this.last.set(key, { cur: sample });
      return undefined;
    }
    let base = e.cur;
    if (atNs - e.cur.at < this.minIntervalNs) {
      if (!e.prev) return undefined;
      base = e.prev;
    } else {
      e.prev = e.cur;
      e.cur = sample;
    }
    const dt = atNs - base.at;
    if (dt <= 0 || usageNs < base.ns) return undefined;
    return Math.round(((usageNs - base.ns) / dt) * 1e9);
  }

  /** Drops keys not in `live` (removed containers and pods). */
  retain(live: Set<string>): void {
    for (const k of this.last.keys()) if (!live.has(k)) this.last.delete(k);
  }
}
