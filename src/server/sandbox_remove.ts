import type { RemovePodSandboxRequest__Output } from '../cri/generated/runtime/v1/RemovePodSandboxRequest.js';
import type { RemovePodSandboxResponse } from '../cri/generated/runtime/v1/RemovePodSandboxResponse.js';
import type { Services } from './context.js';
import { id } from './validate.js';

export async function removePodSandbox(svc: Services, req: RemovePodSandboxRequest__Output): Promise<RemovePodSandboxResponse> {
  await svc.pods.remove(id('pod_sandbox_id', req.podSandboxId));
  return {};
}
