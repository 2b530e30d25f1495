import type { ExecRequest__Output } from '../cri/generated/runtime/v1/ExecRequest.js';
import type { ExecResponse } from '../cri/generated/runtime/v1/ExecResponse.js';
import type { Services } from './context.js';
import { checkStreams } from './container_attach.js';
import { argv, bad, id } from './validate.js';

/** The command of Exec and ExecSync: not empty, and arguments execve can pass. */
export function command(cmd: string[]): string[] {
  const out = argv('cmd', cmd);
  if (out.length === 0 || out[0] === '') throw bad('cmd', 'must not be empty');
  return out;
}

/** Validates everything a session will need before handing out its URL. */
export async function exec(svc: Services, req: ExecRequest__Output): Promise<ExecResponse> {
  const containerId = id('container_id', req.containerId);
  const cmd = command(req.cmd);
  const opts = checkStreams(req);
  const { c } = svc.containers.running(containerId);
  return { url: svc.streaming.url({ kind: 'exec', containerId: c.id, cmd, ...opts }) };
}
