import type { CreateContainerRequest__Output } from '../cri/generated/runtime/v1/CreateContainerRequest.js';
import type { CreateContainerResponse } from '../cri/generated/runtime/v1/CreateContainerResponse.js';
import type { Services } from './context.js';
import { containerConfig } from './container_common.js';
import { informationalSandboxConfig } from './sandbox_common.js';
import { id } from './validate.js';
import { checkPropagationSource } from '../container/propagation.js';

export async function createContainer(svc: Services, req: CreateContainerRequest__Output): Promise<CreateContainerResponse> {
  const podSandboxId = id('pod_sandbox_id', req.podSandboxId);
  const config = containerConfig(req.config);
  informationalSandboxConfig(req.sandboxConfig);
  // Host sources of propagating mounts must already propagate: berthd does
  // not change the host's mounts to make them (containerd's rule).
  for (const [i, m] of config.mounts.entries()) {
    if (m.propagation !== 'private') await checkPropagationSource(m.hostPath, m.propagation, `config.mounts[${i}].host_path`);
  }
  return { containerId: await svc.containers.create(podSandboxId, config) };
}
