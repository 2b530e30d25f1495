import type { StartContainerRequest__Output } from '../cri/generated/runtime/v1/StartContainerRequest.js';
import type { StartContainerResponse } from '../cri/generated/runtime/v1/StartContainerResponse.js';
import type { Services } from './context.js';

export async function startContainer(svc: Services, req: StartContainerRequest__Output): Promise<StartContainerResponse> {
  await svc.containers.start(req.containerId);
  return {};
}
