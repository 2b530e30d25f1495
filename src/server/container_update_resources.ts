import type { UpdateContainerResourcesRequest__Output } from '../cri/generated/runtime/v1/UpdateContainerResourcesRequest.js';
import type { UpdateContainerResourcesResponse } from '../cri/generated/runtime/v1/UpdateContainerResourcesResponse.js';
import type { Services } from './context.js';
import { resources } from './container_common.js';
import { bad, id, stringMap } from './validate.js';

export async function updateContainerResources(svc: Services, req: UpdateContainerResourcesRequest__Output): Promise<UpdateContainerResourcesResponse> {
  const containerId = id('container_id', req.containerId);
  const r = resources(req.linux, 'linux');
  if (!r) throw bad('linux', 'is required');
  stringMap('annotations', req.annotations);
  await svc.containers.updateResources(containerId, r);
  return {};
}
