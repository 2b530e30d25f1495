import type { ListPodSandboxStatsRequest__Output } from '../cri/generated/runtime/v1/ListPodSandboxStatsRequest.js';
import type { ListPodSandboxStatsResponse } from '../cri/generated/runtime/v1/ListPodSandboxStatsResponse.js';
import type { StreamPodSandboxStatsRequest__Output } from '../cri/generated/runtime/v1/StreamPodSandboxStatsRequest.js';
import type { PodSandboxStatsFilter__Output } from '../cri/generated/runtime/v1/PodSandboxStatsFilter.js';
import type { Services } from './context.js';
import { criSandboxStats } from './stats_common.js';
import { id, stringMap } from './validate.js';

// Pods per message of the streaming variant (each carries its containers).
const BATCH = 50;

function filter(f: PodSandboxStatsFilter__Output | null) {
  const labels = stringMap('filter.label_selector', f?.labelSelector);
  return { id: id('filter.id', f?.id, false) || undefined, labels: Object.keys(labels).length ? labels : undefined };
}

export async function listPodSandboxStats(svc: Services, req: ListPodSandboxStatsRequest__Output): Promise<ListPodSandboxStatsResponse> {
  return { stats: (await svc.stats.sandboxes(filter(req.filter))).map(criSandboxStats) };
}

export async function streamPodSandboxStats(svc: Services, req: StreamPodSandboxStatsRequest__Output, send: (m: unknown) => Promise<void>): Promise<void> {
  const items = (await svc.stats.sandboxes(filter(req.filter))).map(criSandboxStats);
  for (let i = 0; i < items.length; i += BATCH) await send({ podSandboxStats: items.slice(i, i + BATCH) });
}
