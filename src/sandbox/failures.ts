// Why RunPodSandbox failed and whose fault it is, for
// berth_sandbox_create_failures_total: the caller's failures are left out of
// the runtime's sandbox SLI.
import type { Fault } from '../metrics/metrics.js';
import { BerthError } from '../util/errors.js';
import { RunError } from '../util/run.js';
/** Why RunPodSandbox failed and whose fault it is, for berth_sandbox_create_failures_total. */
export function sandboxFailure(err: unknown, fromNetwork: boolean): { reason: string; fault: Fault } {
  const kind = err instanceof BerthError ? err.kind : 'Internal';
  if (fromNetwork) {
    if (kind === 'InvalidArgument') return { reason: 'BadConfig', fault: 'user' };
    return { reason: kind === 'DeadlineExceeded' ? 'Timeout' : 'CNI', fault: 'network' };
  }
  if (kind === 'InvalidArgument') return { reason: 'BadConfig', fault: 'user' };
  if (kind === 'AlreadyExists') return { reason: 'NameInUse', fault: 'user' };
  if (kind === 'FailedPrecondition') return { reason: 'HandlerUnusable', fault: 'runtime' };
  if (err instanceof RunError) return { reason: 'Runtime', fault: 'runtime' };
  return { reason: 'Internal', fault: 'runtime' };
}
