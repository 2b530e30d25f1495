import type { CheckpointContainerRequest__Output } from '../cri/generated/runtime/v1/CheckpointContainerRequest.js';
import type { CheckpointContainerResponse } from '../cri/generated/runtime/v1/CheckpointContainerResponse.js';
import type { Services } from './context.js';
import { invalidArgument } from '../util/errors.js';

export async function checkpointContainer(svc: Services, req: CheckpointContainerRequest__Output): Promise<CheckpointContainerResponse> {
  const timeout = Number(req.timeout);
  if (!Number.isSafeInteger(timeout) || timeout < 0) throw invalidArgument(`timeout "${req.timeout}" must be a non-negative number of seconds`);
  await svc.containers.checkpoint(req.containerId, req.location, timeout);
  return {};
}
