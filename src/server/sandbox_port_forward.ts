import type { PortForwardRequest__Output } from '../cri/generated/runtime/v1/PortForwardRequest.js';
import type { PortForwardResponse } from '../cri/generated/runtime/v1/PortForwardResponse.js';
import type { Services } from './context.js';
import { failedPrecondition } from '../util/errors.js';
import { id, list, port, LIMITS } from './validate.js';

export async function portForward(svc: Services, req: PortForwardRequest__Output): Promise<PortForwardResponse> {
  const podSandboxId = id('pod_sandbox_id', req.podSandboxId);
  const ports = list('port', req.port, LIMITS.list, (p, f) => port(f, p, 1));
  const sb = svc.sandboxes.resolve(podSandboxId);
  if (sb.state !== 'READY') throw failedPrecondition(`pod sandbox ${sb.id} is not ready`);
  return { url: svc.streaming.url({ kind: 'portforward', podSandboxId: sb.id, ports }) };
}
