// Typed errors for containerd calls: every failed RPC becomes a ContainerdError carrying the gRPC status
// code, so callers branch on isNotFound/isAlreadyExists instead of parsing messages.
import { status as Status, type ServiceError } from '@grpc/grpc-js';

export { Status };

/** A failed containerd (or CRI) RPC. `code` is the gRPC status code (containerd maps errdefs onto them). */
export class ContainerdError extends Error {
  override name = 'ContainerdError';
  readonly code: Status;
  /** "containers.Create", "tasks.Wait", … */
  readonly method: string;
  /** containerd's own message, without the "<code> <NAME>:" prefix grpc-js adds. */
  readonly details: string;

  constructor(method: string, code: Status, details: string, options?: { cause?: unknown }) {
    super(`containerd ${method}: ${Status[code] ?? code}: ${details}`, options);
    this.method = method;
    this.code = code;
    this.details = details;
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number';
}

/** Wraps whatever a grpc-js call rejected with; non-gRPC errors become UNKNOWN. */
export function toContainerdError(method: string, err: unknown): ContainerdError {
  if (err instanceof ContainerdError) return err;
  if (isServiceError(err)) return new ContainerdError(method, err.code, err.details || err.message, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new ContainerdError(method, Status.UNKNOWN, message, { cause: err });
}

export function isContainerdError(err: unknown, code?: Status): err is ContainerdError {
  return err instanceof ContainerdError && (code === undefined || err.code === code);
}

/** errdefs.ErrNotFound: the container, task, snapshot, image, blob or lease does not exist. */
export function isNotFound(err: unknown): boolean {
  return isContainerdError(err, Status.NOT_FOUND);
}

/** errdefs.ErrAlreadyExists: create of an id/key that is taken. */
export function isAlreadyExists(err: unknown): boolean {
  return isContainerdError(err, Status.ALREADY_EXISTS);
}

/** containerd is not reachable (socket gone, daemon restarting): retry after reconnecting. */
export function isUnavailable(err: unknown): boolean {
  return isContainerdError(err, Status.UNAVAILABLE);
}

/** The per-call deadline passed before containerd answered. */
export function isDeadlineExceeded(err: unknown): boolean {
  return isContainerdError(err, Status.DEADLINE_EXCEEDED);
}

/** errdefs.ErrFailedPrecondition, e.g. deleting a task that is still running. */
export function isFailedPrecondition(err: unknown): boolean {
  return isContainerdError(err, Status.FAILED_PRECONDITION);
}
