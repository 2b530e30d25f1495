import * as grpc from '@grpc/grpc-js';
import { BerthError, type ErrorKind } from '../util/errors.js';
import { truncate } from '../util/echo.js';

const CODES: Record<ErrorKind, grpc.status> = {
  InvalidArgument: grpc.status.INVALID_ARGUMENT,
  NotFound: grpc.status.NOT_FOUND,
  AlreadyExists: grpc.status.ALREADY_EXISTS,
  FailedPrecondition: grpc.status.FAILED_PRECONDITION,
  Unimplemented: grpc.status.UNIMPLEMENTED,
  Unavailable: grpc.status.UNAVAILABLE,
  DeadlineExceeded: grpc.status.DEADLINE_EXCEEDED,
  ResourceExhausted: grpc.status.RESOURCE_EXHAUSTED,
  PermissionDenied: grpc.status.PERMISSION_DENIED,
  Unauthenticated: grpc.status.UNAUTHENTICATED,
  Aborted: grpc.status.ABORTED,
  Internal: grpc.status.INTERNAL,
  // UNKNOWN tells a client nothing it can act on; a failure berthd could not
  // classify is still its own, so INTERNAL.
  Unknown: grpc.status.INTERNAL,
};

/**
 * Characters of a status message sent. The message travels in the
 * `grpc-message` trailer (percent-encoded); a trailer field over 64 KiB makes
 * the client's HPACK decoder fail the connection (see util/echo.ts). 4096
 * characters stay under that whatever they are.
 */
export const MAX_DETAILS = 4096;

export interface GrpcFailure {
  code: grpc.status;
  details: string;
  /** Not a domain error nor a gRPC status: a bug in a handler, whose stack is worth logging. */
  unexpected?: Error;
}

/** Maps any thrown value to a gRPC status; unexpected errors become INTERNAL, never UNKNOWN. */
export function toGrpcStatus(err: unknown): GrpcFailure {
  if (err instanceof BerthError) return { code: CODES[err.kind], details: truncate(err.message, MAX_DETAILS) };
  const e = err as { code?: unknown; details?: unknown; message?: unknown };
  if (typeof e?.code === 'number' && typeof e.details === 'string' && e.code !== grpc.status.UNKNOWN && grpc.status[e.code] !== undefined) {
    return { code: e.code, details: truncate(e.details, MAX_DETAILS) };
  }
  const unexpected = err instanceof Error ? err : new Error(String(err));
  return { code: grpc.status.INTERNAL, details: truncate(`internal error: ${unexpected.message}`, MAX_DETAILS), unexpected };
}

export function codeName(code: grpc.status): string {
  return grpc.status[code] ?? String(code);
}
