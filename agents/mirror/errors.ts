// OCI distribution error bodies (`{"errors":[{"code","message","detail"}]}`) and the one error type the
// mirror's handlers throw; anything else reaching the server is a bug and becomes a 500.
import type { ServerResponse } from 'node:http';

/**
 * The distribution spec's codes, plus distribution's `UNKNOWN` (for 500) and `RANGE_INVALID` (Shoal's own, for
 * 416: the spec defines no code for an unsatisfiable pull range).
 */
export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'MANIFEST_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'UNSUPPORTED'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNKNOWN'
  | 'RANGE_INVALID';

export class MirrorError extends Error {
  override readonly name = 'MirrorError';
  readonly status: number;
  readonly code: OciErrorCode;
  readonly detail: unknown;
  /** Extra response headers, e.g. `Allow` on 405 or `Content-Range` on 416. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, code: OciErrorCode, message: string, options: { detail?: unknown; headers?: Record<string, string> } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = options.detail ?? null;
    this.headers = options.headers ?? {};
  }
}

/** A client-supplied value for an error message: JSON-quoted and cut, so a huge or hostile input is not echoed whole. */
export function quote(value: string, max = 80): string {
  const shown = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(shown);
}

export function errorBody(code: OciErrorCode, message: string, detail: unknown = null): string {
  return JSON.stringify({ errors: [{ code, message, detail }] });
}

/** Writes `error` as an OCI error response (headers only for HEAD, with the Content-Length a GET would get). */
export function writeError(res: ServerResponse, error: MirrorError, head: boolean): void {
  const body = Buffer.from(errorBody(error.code, error.message, error.detail));
  res.writeHead(error.status, { ...error.headers, 'content-type': 'application/json', 'content-length': String(body.length) });
  res.end(head ? undefined : body);
}
