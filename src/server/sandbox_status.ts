import type { PodSandboxStatusRequest__Output } from '../cri/generated/runtime/v1/PodSandboxStatusRequest.js';
import type { PodSandboxStatusResponse } from '../cri/generated/runtime/v1/PodSandboxStatusResponse.js';
import type { Services } from './context.js';
import { podSandbox, toNanos } from './sandbox_common.js';
import { containerStatus } from './container_common.js';

export async function podSandboxStatus(svc: Services, req: PodSandboxStatusRequest__Output): Promise<PodSandboxStatusResponse> {
  const sb = svc.sandboxes.resolve(req.podSandboxId);
  const base = podSandbox(sb, svc.handlers.defaultName);
  const ns = sb.config.namespaces;
  const res: PodSandboxStatusResponse = {
    status: {
      ...base,
      network: { ip: sb.ips[0] ?? '', additionalIps: sb.ips.slice(1).map((ip) => ({ ip })) },
      linux: { namespaces: { options: { network: ns.network, pid: ns.pid, ipc: ns.ipc, targetId: ns.targetId } } },
    },
    containersStatuses: svc.containers.list({ sandboxId: sb.id }).map(containerStatus),
    timestamp: toNanos(Date.now()),
  };
  if (req.verbose) {
    res.info = { info: JSON.stringify({ ...sb, paths: svc.sandboxes.paths(sb.id), networkCheck: await svc.sandboxes.checkNetwork(sb) }) };
  }
  return res;
}
