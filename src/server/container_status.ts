import type { ContainerStatusRequest__Output } from '../cri/generated/runtime/v1/ContainerStatusRequest.js';
import type { ContainerStatusResponse } from '../cri/generated/runtime/v1/ContainerStatusResponse.js';
import type { Services } from './context.js';
import { containerStatus as toStatus } from './container_common.js';
import { id } from './validate.js';

export async function containerStatus(svc: Services, req: ContainerStatusRequest__Output): Promise<ContainerStatusResponse> {
  const c = svc.containers.resolve(id('container_id', req.containerId));
  const res: ContainerStatusResponse = { status: toStatus(c) };
  if (req.verbose) res.info = { info: JSON.stringify({ pid: c.pid, sandboxId: c.sandboxId, bundle: svc.containers.bundle(c.id), user: c.user }) };
  return res;
}
