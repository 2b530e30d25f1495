// UpdatePodSandboxResources (in-place pod resize): the pod's cgroup, the
// parent of its containers', gets the limits of the whole pod. kubelet
// sends what the pod's containers add up to and, apart, the pod's overhead
// (RuntimeClass); the cgroup gets their sum. A limit the request leaves at
// zero means none, since the request states the pod's whole resources.
import type { CgroupLimits, CgroupHost, LimitFields } from '../cgroup/limits.js';
import { applyLimits } from '../cgroup/limits.js';
import { detectCgroupVersion, swapAccounted } from '../cgroup/host.js';

export interface PodResourceRequest {
  overhead?: CgroupLimits;
  resources?: CgroupLimits;
}

/** Where the fields of the request are named in messages. */
export const POD_RESOURCE_FIELDS: LimitFields = {
  cpuShares: 'resources.cpu_shares', cpuQuota: 'resources.cpu_quota', cpuPeriod: 'resources.cpu_period',
  memoryLimit: 'resources.memory_limit_in_bytes', memorySwapLimit: 'resources.memory_swap_limit_in_bytes',
  cpusetCpus: 'resources.cpuset_cpus', cpusetMems: 'resources.cpuset_mems', hugepageLimits: 'resources.hugepage_limits',
  unified: 'resources.unified',
};

const positive = (n: number | undefined): number => (n !== undefined && n > 0 ? n : 0);

/** The pod cgroup's limits: resources plus overhead, a limit the resources leave unset being none. */
export function podLimits(req: PodResourceRequest): CgroupLimits {
  const o = req.overhead ?? {};
  const r = req.resources;
  if (!r) return { ...o };
  const period = positive(r.cpuPeriod) || positive(o.cpuPeriod) || 100_000;
  const out: CgroupLimits = {
    cpuShares: positive(r.cpuShares) ? r.cpuShares! + positive(o.cpuShares) : undefined,
    cpuPeriod: positive(r.cpuPeriod) || positive(o.cpuPeriod) || undefined,
    // Overhead stated against another period counts in this one.
    cpuQuota: positive(r.cpuQuota) ? r.cpuQuota! + Math.round(positive(o.cpuQuota) * period / (positive(o.cpuPeriod) || period)) : -1,
    memoryLimit: positive(r.memoryLimit) ? r.memoryLimit! + positive(o.memoryLimit) : -1,
    memorySwapLimit: positive(r.memorySwapLimit) ? r.memorySwapLimit! + (positive(o.memorySwapLimit) || positive(o.memoryLimit)) : undefined,
    cpusetCpus: r.cpusetCpus || o.cpusetCpus || undefined,
    cpusetMems: r.cpusetMems || o.cpusetMems || undefined,
    unified: { ...(o.unified ?? {}), ...(r.unified ?? {}) },
  };
  const huge = new Map<string, number>();
  for (const h of r.hugepageLimits ?? []) huge.set(h.pageSize, h.limit);
  for (const h of o.hugepageLimits ?? []) if (huge.has(h.pageSize) && huge.get(h.pageSize)! > 0) huge.set(h.pageSize, huge.get(h.pageSize)! + positive(h.limit));
  if (huge.size) out.hugepageLimits = [...huge].map(([pageSize, limit]) => ({ pageSize, limit }));
  return out;
}

/** This host's cgroup layout, as the pod limits are written to it. */
export function hostCgroups(base = '/sys/fs/cgroup'): CgroupHost {
  const version = detectCgroupVersion(base);
  return { version, base, swapAccounted: version === 'v1' && swapAccounted() };
}

/** Writes the pod's limits on its cgroup; all or nothing, the refused field named. */
export function resizePodCgroup(host: CgroupHost, cgroupPath: string, req: PodResourceRequest): CgroupLimits {
  const limits = podLimits(req);
  applyLimits(host, cgroupPath, limits, POD_RESOURCE_FIELDS);
  return limits;
}
