import type { PodSandboxStatsRequest__Output } from '../cri/generated/runtime/v1/PodSandboxStatsRequest.js';
import type { PodSandboxStatsResponse } from '../cri/generated/runtime/v1/PodSandboxStatsResponse.js';
import type { Services } from './context.js';
import { criSandboxStats } from './stats_common.js';
import { id } from './validate.js';

export async function podSandboxStats(svc: Services, req: PodSandboxStatsRequest__Output): Promise<PodSandboxStatsResponse> {
  const sb = svc.sandboxes.resolve(id('pod_sandbox_id', req.podSandboxId));
  return { stats: criSandboxStats(await svc.stats.sandbox(sb)) };
}
