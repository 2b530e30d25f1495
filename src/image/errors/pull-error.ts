// A failed pull: which registry, what went wrong, and a short reason used as
// the metrics label. The kind maps to the gRPC code kubelet sees.
import { BerthError, type ErrorKind } from '../../util/errors.js';
import type { Fault } from '../../metrics/metrics.js';

export type PullFailure =
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'rate_limited'
  | 'server_error'
  | 'unreachable'
  | 'tls'
  | 'stalled'
  | 'digest_mismatch'
  | 'truncated'
  | 'malformed_manifest'
  | 'malformed_layer'
  | 'unsupported'
  | 'no_platform'
  | 'disk_full'
  | 'cancelled'
  | 'other';

const KIND: Record<PullFailure, ErrorKind> = {
  unauthorized: 'Unauthenticated',
  forbidden: 'PermissionDenied',
  not_found: 'NotFound',
  rate_limited: 'ResourceExhausted',
  server_error: 'Unavailable',
  unreachable: 'Unavailable',
  tls: 'Unavailable',
  stalled: 'DeadlineExceeded',
  digest_mismatch: 'Aborted',
  truncated: 'Aborted',
  malformed_manifest: 'FailedPrecondition',
  malformed_layer: 'FailedPrecondition',
  unsupported: 'FailedPrecondition',
  no_platform: 'NotFound',
  disk_full: 'ResourceExhausted',
  cancelled: 'Aborted',
  other: 'Unknown',
};

/** Whose fault each failure is, for the metrics: the runtime's pull SLI leaves the user's out. */
export const PULL_FAULT: Record<PullFailure, Fault> = {
  unauthorized: 'user',
  forbidden: 'user',
  not_found: 'user',
  no_platform: 'user',
  unsupported: 'user',
  cancelled: 'user',
  rate_limited: 'registry',
  server_error: 'registry',
  unreachable: 'registry',
  tls: 'registry',
  stalled: 'registry',
  digest_mismatch: 'registry',
  truncated: 'registry',
  malformed_manifest: 'registry',
  malformed_layer: 'registry',
  disk_full: 'runtime',
  other: 'runtime',
};

/** Failures worth another attempt with backoff. */
export const TRANSIENT: ReadonlySet<PullFailure> = new Set(['rate_limited', 'server_error', 'unreachable', 'stalled', 'truncated']);

export class PullError extends BerthError {
  /** How long the registry asked to be left alone (its Retry-After), in ms. */
  readonly retryAfterMs?: number;

  constructor(
    readonly reason: PullFailure,
    readonly registry: string,
    detail: string,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(KIND[reason], `registry ${registry}: ${detail}`, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}
