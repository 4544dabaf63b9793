// Errors of the agent's HTTPS API, answered as Kubernetes Status objects so clients read them like API server errors.
import type { KubeStatus } from '../../operator/src/runtime/kube.ts';

const reasons: Record<number, string> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 500: 'InternalError', 503: 'ServiceUnavailable' };

export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export function statusBody(status: number, message: string): KubeStatus & { apiVersion: string } {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason: reasons[status] ?? 'Unknown', code: status };
}
