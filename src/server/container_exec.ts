import type { ExecRequest__Output } from '../cri/generated/runtime/v1/ExecRequest.js';
import type { ExecResponse } from '../cri/generated/runtime/v1/ExecResponse.js';
import type { Services } from './context.js';
import { checkStreams } from './container_attach.js';
import { invalidArgument } from '../util/errors.js';

/** Validates everything a session will need before handing out its URL. */
export async function exec(svc: Services, req: ExecRequest__Output): Promise<ExecResponse> {
  if (!req.containerId) throw invalidArgument('container_id is required');
  if (req.cmd.length === 0 || req.cmd[0] === '') throw invalidArgument('cmd must not be empty');
  const opts = checkStreams(req);
  const { c } = svc.containers.running(req.containerId);
  return { url: svc.streaming.url({ kind: 'exec', containerId: c.id, cmd: req.cmd, ...opts }) };
}
