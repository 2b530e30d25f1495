import type { StartContainerRequest__Output } from '../cri/generated/runtime/v1/StartContainerRequest.js';
import type { StartContainerResponse } from '../cri/generated/runtime/v1/StartContainerResponse.js';
import type { Services } from './context.js';
import { id } from './validate.js';

export async function startContainer(svc: Services, req: StartContainerRequest__Output): Promise<StartContainerResponse> {
  await svc.containers.start(id('container_id', req.containerId));
  return {};
}
