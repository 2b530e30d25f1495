import type { StatusRequest__Output } from '../cri/generated/runtime/v1/StatusRequest.js';
import type { StatusResponse } from '../cri/generated/runtime/v1/StatusResponse.js';
import type { Services } from './context.js';
import { existsSync } from 'node:fs';
import { redactConfig } from '../config/redact.js';
import { runtimeDefaultSource } from '../container/seccomp.js';

export async function status(svc: Services, req: StatusRequest__Output): Promise<StatusResponse> {
  const def = svc.handlers.defaultHandler();
  let runtimeReady = def?.usable === true;
  let runtimeReason = runtimeReady ? '' : 'RuntimeHandlerUnusable';
  let runtimeMessage = runtimeReady ? '' : `default handler "${svc.handlers.defaultName}": ${def?.reason ?? 'not probed'}`;
  if (runtimeReady && !existsSync(svc.config.runtime.conmon)) {
    runtimeReady = false;
    runtimeReason = 'ConmonMissing';
    runtimeMessage = `conmon not found at ${svc.config.runtime.conmon}`;
  }
  const net = svc.network.status();
  const handlers = svc.handlers.list();
  const res: StatusResponse = {
    status: {
      conditions: [
        { type: 'RuntimeReady', status: runtimeReady, reason: runtimeReason, message: runtimeMessage },
        { type: 'NetworkReady', status: net.ready, reason: net.reason, message: net.message },
      ],
    },
    runtimeHandlers: handlers
      .filter((h) => h.usable)
      .map((h) => ({
        name: h.name === svc.handlers.defaultName ? '' : h.name,
        features: { recursiveReadOnlyMounts: false, userNamespaces: false },
      })),
    features: { supplementalGroupsPolicy: false },
  };
  if (req.verbose) {
    res.info = {
      config: JSON.stringify(redactConfig(svc.config)),
      handlers: JSON.stringify(handlers),
      podCidr: svc.network.podCidr(),
      seccompProfile: JSON.stringify(runtimeDefaultSource()),
    };
  }
  return res;
}
