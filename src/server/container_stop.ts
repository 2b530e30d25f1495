import type { StopContainerRequest__Output } from '../cri/generated/runtime/v1/StopContainerRequest.js';
import type { StopContainerResponse } from '../cri/generated/runtime/v1/StopContainerResponse.js';
import type { Services } from './context.js';

export async function stopContainer(svc: Services, req: StopContainerRequest__Output): Promise<StopContainerResponse> {
  await svc.containers.stop(req.containerId, Math.max(0, Number(req.timeout)));
  return {};
}
