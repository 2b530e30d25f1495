import type { RunPodSandboxRequest__Output } from '../cri/generated/runtime/v1/RunPodSandboxRequest.js';
import type { RunPodSandboxResponse } from '../cri/generated/runtime/v1/RunPodSandboxResponse.js';
import type { Services } from './context.js';
import { sandboxConfig } from './sandbox_common.js';
import { LIMITS, str } from './validate.js';

export async function runPodSandbox(svc: Services, req: RunPodSandboxRequest__Output): Promise<RunPodSandboxResponse> {
  const config = sandboxConfig(req.config);
  const handler = str('runtime_handler', req.runtimeHandler, { max: LIMITS.short, printable: true });
  return { podSandboxId: await svc.sandboxes.run(config, handler) };
}
