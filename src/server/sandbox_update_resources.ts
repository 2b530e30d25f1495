import type { UpdatePodSandboxResourcesRequest__Output } from '../cri/generated/runtime/v1/UpdatePodSandboxResourcesRequest.js';
import type { UpdatePodSandboxResourcesResponse } from '../cri/generated/runtime/v1/UpdatePodSandboxResourcesResponse.js';
import type { CgroupLimits } from '../cgroup/limits.js';
import type { Resources } from '../container/types.js';
import type { Services } from './context.js';
import { validateResources } from '../container/spec.js';
import { linuxResources as resources } from './resources.js';
import { id } from './validate.js';

// oom_score_adj belongs to processes, not cgroups: each container keeps its own.
function limits(r: Resources | undefined, field: string): CgroupLimits | undefined {
  if (!r) return undefined;
  validateResources(r, field);
  return {
    cpuShares: r.cpuShares, cpuQuota: r.cpuQuota, cpuPeriod: r.cpuPeriod, memoryLimit: r.memoryLimitInBytes,
    memorySwapLimit: r.memorySwapLimitInBytes, cpusetCpus: r.cpusetCpus, cpusetMems: r.cpusetMems,
    hugepageLimits: r.hugepageLimits, unified: r.unified,
  };
}

export async function updatePodSandboxResources(svc: Services, req: UpdatePodSandboxResourcesRequest__Output): Promise<UpdatePodSandboxResourcesResponse> {
  await svc.sandboxes.updateResources(id('pod_sandbox_id', req.podSandboxId), {
    overhead: limits(resources(req.overhead, 'overhead'), 'overhead'),
    resources: limits(resources(req.resources, 'resources'), 'resources'),
  });
  return {};
}
