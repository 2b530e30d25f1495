import type { ExecSyncRequest__Output } from '../cri/generated/runtime/v1/ExecSyncRequest.js';
import type { ExecSyncResponse } from '../cri/generated/runtime/v1/ExecSyncResponse.js';
import type { Services } from './context.js';

export async function execSync(svc: Services, req: ExecSyncRequest__Output): Promise<ExecSyncResponse> {
  const r = await svc.containers.execSync(req.containerId, req.cmd, Math.max(0, Number(req.timeout)));
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
}
