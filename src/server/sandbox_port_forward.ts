import type { PortForwardRequest__Output } from '../cri/generated/runtime/v1/PortForwardRequest.js';
import type { PortForwardResponse } from '../cri/generated/runtime/v1/PortForwardResponse.js';
import type { Services } from './context.js';
import { failedPrecondition, invalidArgument } from '../util/errors.js';

export async function portForward(svc: Services, req: PortForwardRequest__Output): Promise<PortForwardResponse> {
  if (!req.podSandboxId) throw invalidArgument('pod_sandbox_id is required');
  for (const p of req.port) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw invalidArgument(`port ${p} is out of range`);
  }
  const sb = svc.sandboxes.resolve(req.podSandboxId);
  if (sb.state !== 'READY') throw failedPrecondition(`pod sandbox ${sb.id} is not ready`);
  return { url: svc.streaming.url({ kind: 'portforward', podSandboxId: sb.id, ports: req.port }) };
}
