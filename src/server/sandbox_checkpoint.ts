import type { CheckpointPodRequest__Output } from '../cri/generated/runtime/v1/CheckpointPodRequest.js';
import type { CheckpointPodResponse } from '../cri/generated/runtime/v1/CheckpointPodResponse.js';
import type { RestorePodRequest__Output } from '../cri/generated/runtime/v1/RestorePodRequest.js';
import type { RestorePodResponse } from '../cri/generated/runtime/v1/RestorePodResponse.js';
import type { Services } from './context.js';
import { sandboxConfig } from './sandbox_common.js';
import { containerConfig } from './container_common.js';

export async function checkpointPod(svc: Services, req: CheckpointPodRequest__Output): Promise<CheckpointPodResponse> {
  await svc.podCheckpoints.checkpoint(req.podSandboxId, req.outputPath, req.containerIds, req.options);
  return {};
}

export async function restorePod(svc: Services, req: RestorePodRequest__Output): Promise<RestorePodResponse> {
  const r = await svc.podCheckpoints.restore(req.checkpointPath, sandboxConfig(req.config), req.runtimeHandler, req.options, req.containerConfigs.map((c) => containerConfig(c)));
  return { podSandboxId: r.podId, restoredContainers: r.containers.map((c) => ({ name: c.name, containerId: c.id })) };
}
