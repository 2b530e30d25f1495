import type { AttachRequest__Output } from '../cri/generated/runtime/v1/AttachRequest.js';
import type { AttachResponse } from '../cri/generated/runtime/v1/AttachResponse.js';
import type { Services } from './context.js';
import type { CommandOptions } from '../streaming/tokens.js';
import { failedPrecondition, invalidArgument } from '../util/errors.js';
import { id } from './validate.js';

/** The stream choices CRI allows: at least one stream, and no stderr beside a TTY (it is merged into stdout). */
export function checkStreams(req: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): CommandOptions {
  if (req.tty && req.stderr) throw invalidArgument('tty and stderr cannot both be true');
  if (!req.stdin && !req.stdout && !req.stderr) throw invalidArgument('one of stdin, stdout, or stderr must be set');
  return { tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr };
}

export async function attach(svc: Services, req: AttachRequest__Output): Promise<AttachResponse> {
  const containerId = id('container_id', req.containerId);
  const opts = checkStreams(req);
  const { c } = svc.containers.running(containerId);
  if (opts.stdin && !c.config.stdin) throw failedPrecondition(`container ${c.id} was not created with stdin open`);
  return { url: svc.streaming.url({ kind: 'attach', containerId: c.id, ...opts }) };
}
