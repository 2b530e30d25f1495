import type { RemoveContainerRequest__Output } from '../cri/generated/runtime/v1/RemoveContainerRequest.js';
import type { RemoveContainerResponse } from '../cri/generated/runtime/v1/RemoveContainerResponse.js';
import type { Services } from './context.js';
import { id } from './validate.js';

export async function removeContainer(svc: Services, req: RemoveContainerRequest__Output): Promise<RemoveContainerResponse> {
  await svc.containers.remove(id('container_id', req.containerId));
  return {};
}
