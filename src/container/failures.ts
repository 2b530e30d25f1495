// Why a container could not be created or started, and whose fault that is,
// for berth_container_start_failures_total: the runtime's start SLI leaves
// out what the request got wrong.
import type { Fault } from '../metrics/metrics.js';
import { BerthError } from '../util/errors.js';
import { RunError } from '../util/run.js';

export interface StartFailure {
  reason: string;
  fault: Fault;
}

// What runc says when the command the container names cannot be run: a
// missing or non-executable binary is the pod spec's error, not the runtime's.
const BAD_COMMAND = /exec(?:utable file)?[: ].*(no such file or directory|not found|permission denied|exec format error)/i;

export function createFailure(err: unknown): StartFailure {
  if (err instanceof RunError) return BAD_COMMAND.test(err.message) ? { reason: 'BadCommand', fault: 'user' } : { reason: 'CreateError', fault: 'runtime' };
  return requestFailure(err);
}

export function startFailure(err: unknown): StartFailure {
  if (err instanceof RunError) return BAD_COMMAND.test(err.message) ? { reason: 'BadCommand', fault: 'user' } : { reason: 'RuntimeError', fault: 'runtime' };
  return requestFailure(err);
}

function requestFailure(err: unknown): StartFailure {
  if (!(err instanceof BerthError)) return { reason: 'Internal', fault: 'runtime' };
  switch (err.kind) {
    case 'NotFound':
      return { reason: /\bimage\b/.test(err.message) ? 'ImageNotFound' : 'NotFound', fault: 'user' };
    case 'InvalidArgument':
      return { reason: 'BadConfig', fault: 'user' };
    case 'AlreadyExists':
      return { reason: 'NameInUse', fault: 'user' };
    case 'FailedPrecondition':
      return { reason: 'Precondition', fault: 'user' };
    case 'DeadlineExceeded':
      return { reason: 'Timeout', fault: 'runtime' };
    default:
      return { reason: err.kind, fault: 'runtime' };
  }
}
