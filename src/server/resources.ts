// LinuxContainerResources → domain Resources, checked against what cgroups
// accept: containers, UpdateContainerResources and a pod's overhead/resources.
import type { LinuxContainerResources__Output } from '../cri/generated/runtime/v1/LinuxContainerResources.js';
import type { Resources } from '../container/types.js';
import { bad, int, list, matching, str, LIMITS } from './validate.js';

/** Highest CPU number a cpuset may name (the kernel's NR_CPUS limit). */
const MAX_CPU = 8191;
/** Highest memory node number (the kernel's MAX_NUMNODES limit). */
const MAX_NODE = 1023;

/** A cpuset list ("0-3,6"): ranges ascending within, every number at most `max`. */
function cpuset(field: string, v: unknown, max: number): string {
  const s = str(field, v, { max: LIMITS.short });
  if (s === '') return s;
  for (const part of s.split(',')) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    const lo = Number(m?.[1]);
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!m || lo > hi || hi > max) throw bad(field, `"${s}" is not a list of numbers and ranges from 0 to ${max} (e.g. 0-3,6)`);
  }
  return s;
}

// cgroup v2 interface files: "<controller>.<name>", nothing that walks the tree.
const UNIFIED_KEY = /^[a-z][a-z0-9_]*\.[a-z0-9_.]+$/;

/** An int64 that is `off` (no limit) or within [min, max]. */
function offOr(field: string, v: unknown, off: readonly number[], min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = int(field, v);
  if (!off.includes(n) && (n < min || n > max)) throw bad(field, `${n} is not ${off.join(' or ')} (no limit) nor within [${min}, ${max}]`);
  return n;
}

export function linuxResources(r: LinuxContainerResources__Output | null | undefined, field: string): Resources | undefined {
  if (!r) return undefined;
  const hugepageLimits = list(`${field}.hugepage_limits`, r.hugepageLimits, 16, (h, f) => ({
    pageSize: matching(`${f}.page_size`, str(`${f}.page_size`, h.pageSize, { required: true, max: 16 }), /^[1-9]\d{0,5}(KB|MB|GB)$/, 'a page size such as 2MB or 1GB'),
    limit: int(`${f}.limit`, h.limit, { min: 0 }),
  }));
  const unified = r.unified ?? {};
  const keys = Object.keys(unified);
  if (keys.length > 256) throw bad(`${field}.unified`, `has ${keys.length} entries; at most 256 are allowed`);
  for (const k of keys) {
    matching(`${field}.unified key`, str(`${field}.unified key`, k, { required: true, max: LIMITS.short }), UNIFIED_KEY, 'a cgroup v2 interface file name such as memory.high');
    str(`${field}.unified[${JSON.stringify(k)}]`, unified[k], { max: 4096, printable: true });
  }
  return {
    // The kernel's CFS bounds, in microseconds; quota -1 is "no limit" as the kernel reads it.
    cpuPeriod: offOr(`${field}.cpu_period`, r.cpuPeriod, [0], 1000, 1_000_000),
    cpuQuota: offOr(`${field}.cpu_quota`, r.cpuQuota, [0, -1], 1000),
    cpuShares: int(`${field}.cpu_shares`, r.cpuShares, { min: 0, max: 262_144 }),
    // Below 4 MiB no container starts (runc's own floor is lower, the kernel's workings are not).
    memoryLimitInBytes: offOr(`${field}.memory_limit_in_bytes`, r.memoryLimitInBytes, [0], 4 * 1024 * 1024),
    memorySwapLimitInBytes: int(`${field}.memory_swap_limit_in_bytes`, r.memorySwapLimitInBytes, { min: 0 }),
    oomScoreAdj: int(`${field}.oom_score_adj`, r.oomScoreAdj, { min: -1000, max: 1000 }),
    cpusetCpus: cpuset(`${field}.cpuset_cpus`, r.cpusetCpus, MAX_CPU),
    cpusetMems: cpuset(`${field}.cpuset_mems`, r.cpusetMems, MAX_NODE),
    hugepageLimits,
    unified,
  };
}
