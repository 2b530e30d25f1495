import type { UpdateRuntimeConfigRequest__Output } from '../cri/generated/runtime/v1/UpdateRuntimeConfigRequest.js';
import type { UpdateRuntimeConfigResponse } from '../cri/generated/runtime/v1/UpdateRuntimeConfigResponse.js';
import type { Services } from './context.js';
import { bad, cidr, str } from './validate.js';

const FIELD = 'runtime_config.network_config.pod_cidr';

export async function updateRuntimeConfig(
  svc: Services,
  req: UpdateRuntimeConfigRequest__Output,
): Promise<UpdateRuntimeConfigResponse> {
  const value = str(FIELD, req.runtimeConfig?.networkConfig?.podCidr, { max: 128, printable: true });
  if (value === '') return {};
  // kubelet may send a comma-separated dual-stack pair.
  const parts = value.split(',').map((c) => c.trim());
  if (parts.length > 2) throw bad(FIELD, 'holds more than two CIDRs (one per address family)');
  for (const c of parts) cidr(FIELD, c);
  await svc.network.setPodCidr(value);
  svc.log.info({ podCidr: value }, 'pod CIDR updated');
  return {};
}
