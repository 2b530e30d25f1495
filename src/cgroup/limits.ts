// Limits written straight into a cgroup's files, for cgroups no OCI runtime
// owns: a pod's cgroup, the parent of its containers' (in-place pod resize).
// cgroup v1 spreads the controllers over hierarchies (cpu, memory, cpuset,
// hugetlb); v2 has one tree with its own file names and value formats
// (cpu.weight for shares, `cpu.max` for quota and period, memory.swap.max
// counting swap alone). The writes of one call are undone, in reverse
// order, when a later one is refused, so a refused resize leaves the pod's
// limits as they were.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, failedPrecondition, invalidArgument } from '../util/errors.js';
import type { CgroupVersion } from './host.js';

/** Limits as the CRI states them: bytes, microseconds, shares. -1 (or 0) on a limit means none. */
export interface CgroupLimits {
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  memoryLimit?: number;
  /** Memory plus swap (v1's memsw), as the CRI's memory_swap_limit_in_bytes. */
  memorySwapLimit?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  hugepageLimits?: { pageSize: string; limit: number }[];
  unified?: Record<string, string>;
}

/** The CRI field each limit came from, for the messages of what is refused. */
export type LimitFields = Record<keyof CgroupLimits, string>;

export interface CgroupHost {
  version: CgroupVersion;
  /** Where the hierarchies are mounted: v1 controller directories below it, or the v2 root itself. */
  base: string;
  /** v1: whether the memory controller accounts swap (memsw files). */
  swapAccounted: boolean;
}

interface Write {
  file: string;
  value: string;
  field: string;
}

/** cgroup v1 cpu.shares to v2 cpu.weight, the conversion runc and the kernel documentation use. */
export function sharesToWeight(shares: number): number {
  if (shares <= 0) return 0;
  return Math.min(10000, Math.max(1, 1 + Math.floor(((shares - 2) * 9999) / 262142)));
}

const unlimited = (n: number | undefined): boolean => n === undefined || n <= 0;

/**
 * Makes `path` (and its missing ancestors) in one hierarchy. A new v1 cpuset
 * cgroup starts with no CPUs and no memory nodes, in which no task can run:
 * each level made gets its parent's. On v2 a controller's files appear only
 * where every ancestor enables it for its children, as runc does for the
 * cgroups it makes.
 */
function ensureDir(root: string, path: string, cpuset: boolean, v2controller?: string): string {
  const parts = path.split('/').filter(Boolean);
  let dir = root;
  for (const p of parts) {
    const parent = dir;
    dir = join(dir, p);
    if (v2controller) enableController(parent, v2controller);
    if (existsSync(dir)) continue;
    mkdirSync(dir);
    if (cpuset) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (readFileSync(join(dir, f), 'utf8').trim() === '') writeFileSync(join(dir, f), readFileSync(join(parent, f), 'utf8').trim());
      }
    }
  }
  return dir;
}

function enableController(dir: string, controller: string): void {
  const offered = join(dir, 'cgroup.controllers');
  const enabled = join(dir, 'cgroup.subtree_control');
  if (!existsSync(offered) || !existsSync(enabled)) return;
  if (!readValue(offered).split(' ').includes(controller) || readValue(enabled).split(' ').includes(controller)) return;
  writeFileSync(enabled, `+${controller}`);
}

function readValue(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

/** The writes that set `l` on cgroup `path`, in an order the kernel accepts. */
function plan(host: CgroupHost, path: string, l: CgroupLimits, fields: LimitFields): Write[] {
  const out: Write[] = [];
  const v1 = host.version === 'v1';
  if (v1 && Object.keys(l.unified ?? {}).length) throw failedPrecondition(`${fields.unified}: needs cgroup v2; this host's controllers are on cgroup v1`);
  const dir = (controller: string, field: string): string => {
    const root = v1 ? join(host.base, controller) : host.base;
    if (!existsSync(root)) throw failedPrecondition(`${field}: this host has no ${controller} controller (${root} is not mounted)`);
    return ensureDir(root, path, v1 && controller === 'cpuset', v1 ? undefined : controller);
  };
  const file = (d: string, name: string, field: string): string => {
    const f = join(d, name);
    // v2 shows a controller's files only where the parent enables it.
    if (!existsSync(f)) throw failedPrecondition(`${field}: ${f} does not exist (the controller is not enabled for this cgroup)`);
    return f;
  };
  if (l.cpuShares !== undefined && l.cpuShares > 0) {
    const d = dir('cpu', fields.cpuShares);
    if (v1) out.push({ file: file(d, 'cpu.shares', fields.cpuShares), value: String(l.cpuShares), field: fields.cpuShares });
    else out.push({ file: file(d, 'cpu.weight', fields.cpuShares), value: String(sharesToWeight(l.cpuShares)), field: fields.cpuShares });
  }
  if (l.cpuQuota !== undefined || l.cpuPeriod !== undefined) {
    const d = dir('cpu', fields.cpuQuota);
    const quota = unlimited(l.cpuQuota) ? undefined : l.cpuQuota!;
    if (v1) {
      if (l.cpuPeriod && l.cpuPeriod > 0) out.push({ file: file(d, 'cpu.cfs_period_us', fields.cpuPeriod), value: String(l.cpuPeriod), field: fields.cpuPeriod });
      out.push({ file: file(d, 'cpu.cfs_quota_us', fields.cpuQuota), value: String(quota ?? -1), field: fields.cpuQuota });
    } else {
      const f = file(d, 'cpu.max', fields.cpuQuota);
      const period = l.cpuPeriod && l.cpuPeriod > 0 ? l.cpuPeriod : Number(readValue(f).split(' ')[1] ?? 100000);
      out.push({ file: f, value: `${quota ?? 'max'} ${period}`, field: fields.cpuQuota });
    }
  }
  if (l.memoryLimit !== undefined || l.memorySwapLimit !== undefined) {
    const d = dir('memory', fields.memoryLimit);
    const mem = unlimited(l.memoryLimit) ? undefined : l.memoryLimit!;
    // With a memory limit and no swap limit, the CRI means no swap beyond it.
    const memsw = unlimited(l.memorySwapLimit) ? mem : l.memorySwapLimit!;
    if (v1) {
      const limitFile = file(d, 'memory.limit_in_bytes', fields.memoryLimit);
      const memWrite = { file: limitFile, value: String(mem ?? -1), field: fields.memoryLimit };
      if (!host.swapAccounted) {
        if (l.memorySwapLimit !== undefined && l.memorySwapLimit > 0 && l.memorySwapLimit !== l.memoryLimit) {
          throw failedPrecondition(`${fields.memorySwapLimit}: this host does not account swap (no memory.memsw files)`);
        }
        out.push(memWrite);
      } else {
        const swWrite = { file: file(d, 'memory.memsw.limit_in_bytes', fields.memorySwapLimit), value: String(memsw ?? -1), field: fields.memorySwapLimit };
        // memsw may never be below the memory limit: raise it first, lower it last.
        const current = Number(readValue(limitFile));
        const raising = mem === undefined || mem > current;
        out.push(...(raising ? [swWrite, memWrite] : [memWrite, swWrite]));
      }
    } else {
      out.push({ file: file(d, 'memory.max', fields.memoryLimit), value: mem === undefined ? 'max' : String(mem), field: fields.memoryLimit });
      const swapFile = join(d, 'memory.swap.max');
      if (existsSync(swapFile)) {
        const swap = mem === undefined || memsw === undefined ? 'max' : String(Math.max(0, memsw - mem));
        out.push({ file: swapFile, value: swap, field: fields.memorySwapLimit });
      } else if (l.memorySwapLimit !== undefined && l.memorySwapLimit > 0 && l.memorySwapLimit !== l.memoryLimit) {
        throw failedPrecondition(`${fields.memorySwapLimit}: this host does not account swap (no memory.swap.max)`);
      }
    }
  }
  if (l.cpusetCpus) {
    const d = dir('cpuset', fields.cpusetCpus);
    out.push({ file: file(d, 'cpuset.cpus', fields.cpusetCpus), value: l.cpusetCpus, field: fields.cpusetCpus });
  }
  if (l.cpusetMems) {
    const d = dir('cpuset', fields.cpusetMems);
    out.push({ file: file(d, 'cpuset.mems', fields.cpusetMems), value: l.cpusetMems, field: fields.cpusetMems });
  }
  for (const [i, h] of (l.hugepageLimits ?? []).entries()) {
    const field = `${fields.hugepageLimits}[${i}]`;
    const d = dir('hugetlb', field);
    const name = v1 ? `hugetlb.${h.pageSize}.limit_in_bytes` : `hugetlb.${h.pageSize}.max`;
    const f = join(d, name);
    if (!existsSync(f)) throw failedPrecondition(`${field}: page size ${h.pageSize} is not supported here (no ${name})`);
    out.push({ file: f, value: h.limit > 0 ? String(h.limit) : v1 ? '-1' : 'max', field });
  }
  const unifiedKeys = Object.keys(l.unified ?? {});
  if (unifiedKeys.length) {
    const d = ensureDir(host.base, path, false);
    for (const key of unifiedKeys.sort()) {
      const field = `${fields.unified}[${key}]`;
      if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/.test(key) || key.startsWith('cgroup.')) throw invalidArgument(`${field}: "${key}" is not a controller file of a cgroup`);
      out.push({ file: file(d, key, field), value: l.unified![key]!, field });
    }
  }
  return out;
}

function refusal(w: Write, err: unknown): BerthError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  const what = `${w.field}: the kernel refused ${w.value} in ${w.file} (${code})`;
  // EINVAL: a value no cgroup here can take (such as a pod CPU quota below
  // one of its containers'); EBUSY and the like depend on what runs.
  return code === 'EINVAL' ? invalidArgument(what) : failedPrecondition(what);
}

/**
 * Sets `limits` on the cgroup at `path` (relative to each hierarchy),
 * making it where it is missing. All or nothing: a refused write undoes
 * the ones before it and throws, naming the field.
 */
export function applyLimits(host: CgroupHost, path: string, limits: CgroupLimits, fields: LimitFields): void {
  const writes = plan(host, path, limits, fields);
  const done: { file: string; before: string }[] = [];
  for (const w of writes) {
    const before = readValue(w.file);
    try {
      writeFileSync(w.file, w.value);
    } catch (err) {
      for (const d of done.reverse()) {
        try {
          writeFileSync(d.file, d.before);
        } catch {
          // A value that stood a moment ago; nothing more can be done.
        }
      }
      throw refusal(w, err);
    }
    done.push({ file: w.file, before });
  }
}
