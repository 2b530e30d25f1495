import type { ListContainerStatsRequest__Output } from '../cri/generated/runtime/v1/ListContainerStatsRequest.js';
import type { ListContainerStatsResponse } from '../cri/generated/runtime/v1/ListContainerStatsResponse.js';
import type { StreamContainerStatsRequest__Output } from '../cri/generated/runtime/v1/StreamContainerStatsRequest.js';
import type { ContainerStatsFilter__Output } from '../cri/generated/runtime/v1/ContainerStatsFilter.js';
import type { Services } from './context.js';
import { criContainerStats } from './stats_common.js';
import { id, stringMap } from './validate.js';

// Items per message of the streaming variant.
const BATCH = 100;

function filter(f: ContainerStatsFilter__Output | null) {
  const labels = stringMap('filter.label_selector', f?.labelSelector);
  return {
    id: id('filter.id', f?.id, false) || undefined,
    sandboxId: id('filter.pod_sandbox_id', f?.podSandboxId, false) || undefined,
    labels: Object.keys(labels).length ? labels : undefined,
  };
}

export async function listContainerStats(svc: Services, req: ListContainerStatsRequest__Output): Promise<ListContainerStatsResponse> {
  return { stats: (await svc.stats.containers(filter(req.filter))).map(criContainerStats) };
}

export async function streamContainerStats(svc: Services, req: StreamContainerStatsRequest__Output, send: (m: unknown) => Promise<void>): Promise<void> {
  const items = (await svc.stats.containers(filter(req.filter))).map(criContainerStats);
  for (let i = 0; i < items.length; i += BATCH) await send({ containerStats: items.slice(i, i + BATCH) });
}
