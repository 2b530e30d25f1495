import type { CheckpointContainerRequest__Output } from '../cri/generated/runtime/v1/CheckpointContainerRequest.js';
import type { CheckpointContainerResponse } from '../cri/generated/runtime/v1/CheckpointContainerResponse.js';
import type { Services } from './context.js';
import { absPath, id, timeoutSeconds } from './validate.js';

export async function checkpointContainer(svc: Services, req: CheckpointContainerRequest__Output): Promise<CheckpointContainerResponse> {
  const timeout = timeoutSeconds('timeout', req.timeout, 'clamp');
  await svc.containers.checkpoint(id('container_id', req.containerId), absPath('location', req.location, { required: true }), timeout);
  return {};
}
