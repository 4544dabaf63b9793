const reasons = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 500: 'InternalError', 503: 'ServiceUnavailable' };
export class HttpError extends Error {
    name = 'HttpError';
    status;
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}
export function statusBody(status, message) {
    return { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason: reasons[status] ?? 'Unknown', code: status };
}
