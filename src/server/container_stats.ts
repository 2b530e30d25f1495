import type { ContainerStatsRequest__Output } from '../cri/generated/runtime/v1/ContainerStatsRequest.js';
import type { ContainerStatsResponse } from '../cri/generated/runtime/v1/ContainerStatsResponse.js';
import type { Services } from './context.js';
import { criContainerStats } from './stats_common.js';
import { id } from './validate.js';

export async function containerStats(svc: Services, req: ContainerStatsRequest__Output): Promise<ContainerStatsResponse> {
  const c = svc.containers.resolve(id('container_id', req.containerId));
  return { stats: criContainerStats(await svc.stats.container(c)) };
}
