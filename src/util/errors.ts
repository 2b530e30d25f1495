// Domain errors carry a status kind that the gRPC edge maps to a code. Services
// throw these; nothing below the edge imports gRPC.

export type ErrorKind =
  | 'InvalidArgument'
  | 'NotFound'
  | 'AlreadyExists'
  | 'FailedPrecondition'
  | 'Unimplemented'
  | 'Unavailable'
  | 'DeadlineExceeded'
  | 'ResourceExhausted'
  | 'PermissionDenied'
  | 'Unauthenticated'
  | 'Aborted'
  | 'Internal'
  | 'Unknown';

export class BerthError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BerthError';
  }
}

export const invalidArgument = (msg: string): BerthError => new BerthError('InvalidArgument', msg);
export const notFound = (msg: string): BerthError => new BerthError('NotFound', msg);
export const alreadyExists = (msg: string): BerthError => new BerthError('AlreadyExists', msg);
export const failedPrecondition = (msg: string): BerthError => new BerthError('FailedPrecondition', msg);
export const unimplemented = (msg: string): BerthError => new BerthError('Unimplemented', msg);
export const internal = (msg: string, cause?: unknown): BerthError => new BerthError('Internal', msg, { cause });

/** `find()`'s result, or undefined when it throws NotFound (idempotent removals). */
export function unlessNotFound<T>(find: () => T): T | undefined {
  try {
    return find();
  } catch (err) {
    if (err instanceof BerthError && err.kind === 'NotFound') return undefined;
    throw err;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
