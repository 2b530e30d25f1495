import * as grpc from '@grpc/grpc-js';
import { BerthError, type ErrorKind } from '../util/errors.js';

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
  Unknown: grpc.status.UNKNOWN,
};

export interface GrpcFailure {
  code: grpc.status;
  details: string;
}

/** Maps any thrown value to a gRPC status; unexpected errors become UNKNOWN with their message. */
export function toGrpcStatus(err: unknown): GrpcFailure {
  if (err instanceof BerthError) return { code: CODES[err.kind], details: err.message };
  const e = err as { code?: unknown; details?: unknown; message?: unknown };
  if (typeof e?.code === 'number' && typeof e.details === 'string') return { code: e.code, details: e.details };
  return { code: grpc.status.UNKNOWN, details: err instanceof Error ? err.message : String(err) };
}

export function codeName(code: grpc.status): string {
  return grpc.status[code] ?? String(code);
}
