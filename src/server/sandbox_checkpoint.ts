import type { CheckpointPodRequest__Output } from '../cri/generated/runtime/v1/CheckpointPodRequest.js';
import type { CheckpointPodResponse } from '../cri/generated/runtime/v1/CheckpointPodResponse.js';
import type { RestorePodRequest__Output } from '../cri/generated/runtime/v1/RestorePodRequest.js';
import type { RestorePodResponse } from '../cri/generated/runtime/v1/RestorePodResponse.js';
import type { Services } from './context.js';
import { sandboxConfig } from './sandbox_common.js';
import { containerConfig } from './container_common.js';
import { absPath, id, list, str, stringMap, LIMITS } from './validate.js';

export async function checkpointPod(svc: Services, req: CheckpointPodRequest__Output): Promise<CheckpointPodResponse> {
  await svc.podCheckpoints.checkpoint(
    id('pod_sandbox_id', req.podSandboxId), absPath('output_path', req.outputPath, { required: true }),
    list('container_ids', req.containerIds, LIMITS.list, (c, f) => id(f, c)), stringMap('options', req.options),
  );
  return {};
}

export async function restorePod(svc: Services, req: RestorePodRequest__Output): Promise<RestorePodResponse> {
  const r = await svc.podCheckpoints.restore(
    absPath('checkpoint_path', req.checkpointPath, { required: true }), sandboxConfig(req.config),
    str('runtime_handler', req.runtimeHandler, { max: LIMITS.short }), stringMap('options', req.options),
    list('container_configs', req.containerConfigs, LIMITS.list, (c, f) => containerConfig(c, f, true)),
  );
  return { podSandboxId: r.podId, restoredContainers: r.containers.map((c) => ({ name: c.name, containerId: c.id })) };
}
