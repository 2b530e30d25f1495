// Cgroup readers for container and pod stats. A sample is five small
// pseudo-files: one cgroup's are read synchronously, a list call's in one
// batch off the event loop (see read.ts); no process is spawned.
import { detectCgroupVersion, type CgroupVersion } from '../cgroup/host.js';
import { BatchReads, preadSmall, readSmall } from './read.js';
import { openSync } from 'node:fs';
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

function num(t: string | undefined): number | undefined {
  if (t === undefined) return undefined;
  const s = t.trim();
  if (s === 'max') return Infinity;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * One value of a "key value" file, found in place: a list call parses 240
 * memory.stat files of ~35 lines for four values, and a Map of each was
 * most of the call's garbage.
 */
export function keyedValue(t: string | undefined, key: string): number | undefined {
  if (!t) return undefined;
  let at = t.startsWith(`${key} `) ? 0 : t.indexOf(`\n${key} `);
  if (at < 0) return undefined;
  if (at > 0) at++;
  const start = at + key.length + 1;
  const end = t.indexOf('\n', start);
  const v = Number(t.slice(start, end < 0 ? undefined : end));
  return Number.isFinite(v) ? v : undefined;
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
 * The files one sample reads, in the order parse() takes their texts. v1:
 * one hierarchy per controller under `base` (cpuacct, memory, pids;
 * `cpuacct` may be a symlink to `cpu,cpuacct`); v2: every controller's files
 * in one directory. `path` is the cgroup path as given to runc (`/parent/id`).
 */
export function sampleFiles(version: CgroupVersion, base: string, path: string): string[] {
  if (version === 'v2') {
    const dir = join(base, path);
    return ['cpu.stat', 'memory.current', 'memory.max', 'memory.stat', 'pids.current'].map((f) => join(dir, f));
  }
  const mem = join(base, 'memory', path);
  return [
    join(base, 'cpuacct', path, 'cpuacct.usage'),
    join(mem, 'memory.usage_in_bytes'),
    join(mem, 'memory.limit_in_bytes'),
    join(mem, 'memory.stat'),
    join(base, 'pids', path, 'pids.current'),
  ];
}

/** A sample from the texts of sampleFiles() (undefined where a file could not be read). */
export function parseSample(version: CgroupVersion, texts: (string | undefined)[], atNs = nowNs()): CgroupSample {
  const [cpuText, usageText, limitText, statText, pidsText] = texts;
  if (version === 'v2') {
    const usec = keyedValue(cpuText, 'usage_usec');
    const g = (k: string): number => keyedValue(statText, k) ?? 0;
    return {
      cpuUsageNs: usec === undefined ? undefined : usec * 1000,
      memory: memory(num(usageText), num(limitText), g('inactive_file'), g('anon'), g('pgfault'), g('pgmajfault')),
      pids: num(pidsText),
      atNs,
    };
  }
  // total_* include descendants (and total_rss the transparent huge pages), which a pod-level cgroup needs.
  const g = (k: string): number => keyedValue(statText, `total_${k}`) ?? keyedValue(statText, k) ?? 0;
  return {
    cpuUsageNs: num(cpuText),
    memory: memory(num(usageText), num(limitText), g('inactive_file'), g('rss'), g('pgfault'), g('pgmajfault')),
    pids: num(pidsText),
    atNs,
  };
}

/** cgroup v1 sample of `path`, read synchronously. */
export function readCgroupV1(base: string, path: string): CgroupSample {
  return parseSample('v1', sampleFiles('v1', base, path).map(readSmall));
}

/** cgroup v2 sample of `path`, read synchronously. */
export function readCgroupV2(base: string, path: string): CgroupSample {
  return parseSample('v2', sampleFiles('v2', base, path).map(readSmall));
}

export function nowNs(): number {
  return Date.now() * 1e6;
}

export interface CgroupReader {
  readonly version: CgroupVersion;
  read(path: string): CgroupSample;
  /** Samples of many cgroups at once, read off the event loop. */
  readMany(paths: string[]): Promise<CgroupSample[]>;
  /** Lets go of what is kept for cgroups not in `live` (removed containers and pods). */
  retain(live: Set<string>): void;
  /**
   * Processes the OOM killer killed in the cgroup: on v1 those of this
   * cgroup alone (memory.oom_control), on v2 of it and its descendants
   * (memory.events); undefined when the cgroup is gone.
   */
  oomKills(path: string): number | undefined;
}

export function cgroupReader(base = '/sys/fs/cgroup', version = detectCgroupVersion(base)): CgroupReader {
  const kept = new KeptFiles((p) => sampleFiles(version, base, p));
  return {
    version,
    read: (p) => parseSample(version, kept.readSync(p)),
    readMany: async (paths) => {
      const texts = await kept.readMany(paths);
      const atNs = nowNs();
      return texts.map((t) => parseSample(version, t, atNs));
    },
    retain: (live) => kept.retain(live),
    oomKills: (p) => keyedValue(readSmall(version === 'v2' ? join(base, p, 'memory.events') : join(base, 'memory', p, 'memory.oom_control')), 'oom_kill'),
  };
}

/**
 * Descriptors kept open at most (five per cgroup; past this, files are opened
 * per read): 4096, or a quarter of the open-file limit when that is lower,
 * so they never starve the daemon's other files and sockets.
 */
function maxKept(): number {
  const soft = /^Max open files\s+(\d+)/m.exec(readSmall('/proc/self/limits') ?? '')?.[1];
  return Math.min(4096, Math.floor(Number(soft ?? 4096) / 4));
}

/**
 * One cgroup's files (the path joins showed in a list call's profile, so
 * they are made once) and the descriptor of each, when open.
 */
interface Kept {
  files: string[];
  fds: (number | undefined)[];
}

/**
 * Descriptors of the cgroup files read again and again, by cgroup. Opening
 * a cgroup file costs three to four times reading it (measured here: 10-16 µs
 * against 2.5-5.4 µs for a pread from 0 of a kept descriptor; the kernel
 * regenerates the content at offset 0), and a list call at 110 pods reads
 * 1,200 of them. A descriptor of a removed cgroup fails to read: it is
 * closed and the path read afresh (a cgroup made again under the same path).
 */
class KeptFiles {
  private readonly byCgroup = new Map<string, Kept>();
  private readonly max = maxKept();
  private count = 0;
  private readonly batches = new BatchReads();

  constructor(private readonly filesOf: (cgroup: string) => string[]) {}

  /** The cgroup's entry, with each file's descriptor opened now if need be. */
  private entry(cgroup: string): Kept {
    let e = this.byCgroup.get(cgroup);
    if (!e) {
      const files = this.filesOf(cgroup);
      e = { files, fds: files.map(() => undefined) };
      this.byCgroup.set(cgroup, e);
    }
    for (let i = 0; i < e.files.length; i++) {
      if (e.fds[i] !== undefined || this.count >= this.max) continue;
      try {
        e.fds[i] = openSync(e.files[i]!, 'r');
        this.count++;
      } catch {
        // Not there (yet): read by path, which says so.
      }
    }
    return e;
  }

  /** What to read for each file: its descriptor, or its path where it is not kept. */
  private items(e: Kept): (string | number)[] {
    return e.files.map((f, i) => e.fds[i] ?? f);
  }

  /**
   * Texts read through `items`: a descriptor that failed to read (its cgroup
   * was removed) is closed, or queued for it, and forgotten, and the path is
   * read afresh (a cgroup made again under the same path).
   */
  private recover(e: Kept, items: (string | number)[], texts: (string | undefined)[]): (string | undefined)[] {
    items.forEach((item, i) => {
      if (typeof item !== 'number' || texts[i] !== undefined) return;
      if (e.fds[i] === item) {
        e.fds[i] = undefined;
        this.count--;
        this.batches.close([item]);
      }
      texts[i] = readSmall(e.files[i]!);
    });
    return texts;
  }

  readSync(cgroup: string): (string | undefined)[] {
    const e = this.entry(cgroup);
    const items = this.items(e);
    return this.recover(e, items, items.map((item) => (typeof item === 'string' ? readSmall(item) : preadSmall(item))));
  }

  async readMany(cgroups: string[]): Promise<(string | undefined)[][]> {
    const entries = cgroups.map((cg) => this.entry(cg));
    const items = entries.map((e) => this.items(e));
    const texts = await this.batches.read(items.flat());
    let at = 0;
    return entries.map((e, w) => this.recover(e, items[w]!, texts.slice(at, (at += items[w]!.length))));
  }

  /** Closes the descriptors of every cgroup not in `live`. */
  retain(live: Set<string>): void {
    const gone: number[] = [];
    for (const [cg, e] of this.byCgroup) {
      if (live.has(cg)) continue;
      this.byCgroup.delete(cg);
      for (const fd of e.fds) {
        if (fd === undefined) continue;
        gone.push(fd);
        this.count--;
      }
    }
    if (gone.length) this.batches.close(gone);
  }
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
