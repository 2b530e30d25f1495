import type { RuntimeConfigRequest__Output } from '../cri/generated/runtime/v1/RuntimeConfigRequest.js';
import type { RuntimeConfigResponse } from '../cri/generated/runtime/v1/RuntimeConfigResponse.js';
import type { Services } from './context.js';

export async function runtimeConfig(svc: Services, _req: RuntimeConfigRequest__Output): Promise<RuntimeConfigResponse> {
  return {
    linux: { cgroupDriver: svc.config.runtime.cgroup_driver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' },
  };
}
