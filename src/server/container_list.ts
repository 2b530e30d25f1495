import type { ListContainersRequest__Output } from '../cri/generated/runtime/v1/ListContainersRequest.js';
import type { ListContainersResponse } from '../cri/generated/runtime/v1/ListContainersResponse.js';
import type { StreamContainersRequest__Output } from '../cri/generated/runtime/v1/StreamContainersRequest.js';
import type { Services } from './context.js';
import { containerFilter, criContainer } from './container_common.js';

// Items per message of the streaming variant.
const BATCH = 100;

export async function listContainers(svc: Services, req: ListContainersRequest__Output): Promise<ListContainersResponse> {
  return { containers: svc.containers.list(containerFilter(req.filter)).map(criContainer) };
}

export async function streamContainers(svc: Services, req: StreamContainersRequest__Output, send: (m: unknown) => Promise<void>): Promise<void> {
  const items = svc.containers.list(containerFilter(req.filter)).map(criContainer);
  for (let i = 0; i < items.length; i += BATCH) await send({ containers: items.slice(i, i + BATCH) });
}
