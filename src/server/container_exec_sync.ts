import type { ExecSyncRequest__Output } from '../cri/generated/runtime/v1/ExecSyncRequest.js';
import type { ExecSyncResponse } from '../cri/generated/runtime/v1/ExecSyncResponse.js';
import type { Services } from './context.js';
import { command } from './container_exec.js';
import { id, timeoutSeconds } from './validate.js';

export async function execSync(svc: Services, req: ExecSyncRequest__Output): Promise<ExecSyncResponse> {
  const containerId = id('container_id', req.containerId);
  const cmd = command(req.cmd);
  // CRI: 0 runs the command to its end; so does one longer than a timer holds.
  const timeout = timeoutSeconds('timeout', req.timeout, 'none');
  const r = await svc.containers.execSync(containerId, cmd, timeout);
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
}
