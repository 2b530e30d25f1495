import type { UpdateContainerResourcesRequest__Output } from '../cri/generated/runtime/v1/UpdateContainerResourcesRequest.js';
import type { UpdateContainerResourcesResponse } from '../cri/generated/runtime/v1/UpdateContainerResourcesResponse.js';
import type { Services } from './context.js';
import { invalidArgument } from '../util/errors.js';
import { resources } from './container_common.js';

export async function updateContainerResources(svc: Services, req: UpdateContainerResourcesRequest__Output): Promise<UpdateContainerResourcesResponse> {
  const r = resources(req.linux, 'linux');
  if (!r) throw invalidArgument('linux resources are required');
  await svc.containers.updateResources(req.containerId, r);
  return {};
}
