import type { PodSandboxStatusRequest__Output } from '../cri/generated/runtime/v1/PodSandboxStatusRequest.js';
import type { PodSandboxStatusResponse } from '../cri/generated/runtime/v1/PodSandboxStatusResponse.js';
import type { Services } from './context.js';
import type { Sandbox } from '../sandbox/types.js';
import { podSandbox, toNanos } from './sandbox_common.js';
import { containerStatus } from './container_common.js';
import { id } from './validate.js';

/** The pod's status and its containers' statuses, as PodSandboxStatus and container events carry them. */
export function sandboxStatusOf(svc: Services, sb: Sandbox): Required<Pick<PodSandboxStatusResponse, 'status' | 'containersStatuses'>> {
  const base = podSandbox(sb, svc.handlers.defaultName);
  const ns = sb.config.namespaces;
  return {
    status: {
      ...base,
      network: { ip: sb.ips[0] ?? '', additionalIps: sb.ips.slice(1).map((ip) => ({ ip })) },
      linux: { namespaces: { options: { network: ns.network, pid: ns.pid, ipc: ns.ipc, targetId: ns.targetId } } },
    },
    containersStatuses: svc.containers.inPod(sb.id).map(containerStatus),
  };
}

export async function podSandboxStatus(svc: Services, req: PodSandboxStatusRequest__Output): Promise<PodSandboxStatusResponse> {
  const sb = svc.sandboxes.resolve(id('pod_sandbox_id', req.podSandboxId));
  const res: PodSandboxStatusResponse = { ...sandboxStatusOf(svc, sb), timestamp: toNanos(Date.now()) };
  if (req.verbose) {
    res.info = { info: JSON.stringify({ ...sb, paths: svc.sandboxes.paths(sb.id), networkCheck: await svc.sandboxes.checkNetwork(sb) }) };
  }
  return res;
}
