import type { RunPodSandboxRequest__Output } from '../cri/generated/runtime/v1/RunPodSandboxRequest.js';
import type { RunPodSandboxResponse } from '../cri/generated/runtime/v1/RunPodSandboxResponse.js';
import type { Services } from './context.js';
import { sandboxConfig } from './sandbox_common.js';

export async function runPodSandbox(svc: Services, req: RunPodSandboxRequest__Output): Promise<RunPodSandboxResponse> {
  const id = await svc.sandboxes.run(sandboxConfig(req.config), req.runtimeHandler);
  return { podSandboxId: id };
}
