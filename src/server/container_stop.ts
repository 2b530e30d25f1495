import type { StopContainerRequest__Output } from '../cri/generated/runtime/v1/StopContainerRequest.js';
import type { StopContainerResponse } from '../cri/generated/runtime/v1/StopContainerResponse.js';
import type { Services } from './context.js';
import { id, timeoutSeconds } from './validate.js';

export async function stopContainer(svc: Services, req: StopContainerRequest__Output): Promise<StopContainerResponse> {
  // CRI: the grace period before SIGKILL; 0 kills at once. One longer than a
  // timer holds waits as long as one can.
  await svc.containers.stop(id('container_id', req.containerId), timeoutSeconds('timeout', req.timeout, 'clamp'));
  return {};
}
