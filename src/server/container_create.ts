import type { CreateContainerRequest__Output } from '../cri/generated/runtime/v1/CreateContainerRequest.js';
import type { CreateContainerResponse } from '../cri/generated/runtime/v1/CreateContainerResponse.js';
import type { Services } from './context.js';
import { containerConfig } from './container_common.js';

export async function createContainer(svc: Services, req: CreateContainerRequest__Output): Promise<CreateContainerResponse> {
  const id = await svc.containers.create(req.podSandboxId, containerConfig(req.config));
  return { containerId: id };
}
