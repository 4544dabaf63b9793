// Typed errors for containerd calls: every failed RPC becomes a ContainerdError carrying the gRPC status
// code, so callers branch on isNotFound/isAlreadyExists instead of parsing messages.
import { status as Status } from '@grpc/grpc-js';
export { Status };
/** A failed containerd (or CRI) RPC. `code` is the gRPC status code (containerd maps errdefs onto them). */
export class ContainerdError extends Error {
    name = 'ContainerdError';
    code;
    /** "containers.Create", "tasks.Wait", … */
    method;
    /** containerd's own message, without the "<code> <NAME>:" prefix grpc-js adds. */
    details;
    constructor(method, code, details, options) {
        super(`containerd ${method}: ${Status[code] ?? code}: ${details}`, options);
        this.method = method;
        this.code = code;
        this.details = details;
    }
}
function isServiceError(err) {
    return err instanceof Error && typeof err.code === 'number';
}
/** Wraps whatever a grpc-js call rejected with; non-gRPC errors become UNKNOWN. */
export function toContainerdError(method, err) {
    if (err instanceof ContainerdError)
        return err;
    if (isServiceError(err))
        return new ContainerdError(method, err.code, err.details || err.message, { cause: err });
    const message = err instanceof Error ? err.message : String(err);
    return new ContainerdError(method, Status.UNKNOWN, message, { cause: err });
}
export function isContainerdError(err, code) {
    return err instanceof ContainerdError && (code === undefined || err.code === code);
}
/** errdefs.ErrNotFound: the container, task, snapshot, image, blob or lease does not exist. */
export function isNotFound(err) {
    return isContainerdError(err, Status.NOT_FOUND);
}
/** errdefs.ErrAlreadyExists: create of an id/key that is taken. */
export function isAlreadyExists(err) {
    return isContainerdError(err, Status.ALREADY_EXISTS);
}
/** containerd is not reachable (socket gone, daemon restarting): retry after reconnecting. */
export function isUnavailable(err) {
    return isContainerdError(err, Status.UNAVAILABLE);
}
/** The per-call deadline passed before containerd answered. */
export function isDeadlineExceeded(err) {
    return isContainerdError(err, Status.DEADLINE_EXCEEDED);
}
/** errdefs.ErrFailedPrecondition, e.g. deleting a task that is still running. */
export function isFailedPrecondition(err) {
    return isContainerdError(err, Status.FAILED_PRECONDITION);
}
