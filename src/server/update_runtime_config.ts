import type { UpdateRuntimeConfigRequest__Output } from '../cri/generated/runtime/v1/UpdateRuntimeConfigRequest.js';
import type { UpdateRuntimeConfigResponse } from '../cri/generated/runtime/v1/UpdateRuntimeConfigResponse.js';
import { invalidArgument } from '../util/errors.js';
import type { Services } from './context.js';

export async function updateRuntimeConfig(
  svc: Services,
  req: UpdateRuntimeConfigRequest__Output,
): Promise<UpdateRuntimeConfigResponse> {
  const cidr = req.runtimeConfig?.networkConfig?.podCidr ?? '';
  if (cidr === '') return {};
  // kubelet may send a comma-separated dual-stack pair.
  for (const c of cidr.split(',')) {
    if (!/^[0-9a-fA-F.:]+\/\d{1,3}$/.test(c.trim())) {
      throw invalidArgument(`runtime_config.network_config.pod_cidr: "${c}" is not a CIDR`);
    }
  }
  await svc.network.setPodCidr(cidr);
  svc.log.info({ podCidr: cidr }, 'pod CIDR updated');
  return {};
}
