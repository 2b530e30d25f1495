import type { StopPodSandboxRequest__Output } from '../cri/generated/runtime/v1/StopPodSandboxRequest.js';
import type { StopPodSandboxResponse } from '../cri/generated/runtime/v1/StopPodSandboxResponse.js';
import type { Services } from './context.js';
import { id } from './validate.js';

export async function stopPodSandbox(svc: Services, req: StopPodSandboxRequest__Output): Promise<StopPodSandboxResponse> {
  await svc.pods.stop(id('pod_sandbox_id', req.podSandboxId));
  return {};
}
