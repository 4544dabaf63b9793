// The logs endpoint's request: `GET /v1/logs/{namespace}/{name}?follow&tailLines&previous&limitBytes`, validated
// strictly (unknown or repeated parameters are errors, so a typo such as `tail=5` is not silently ignored).
import { HttpError } from './http-error.ts';

export const logsPathPrefix = '/v1/logs/';

export interface LogsTarget {
  namespace: string;
  name: string;
}

export interface LogsOptions {
  follow: boolean;
  previous: boolean;
  /** Lines from the end; undefined means the whole file. */
  tailLines?: number;
  /** Stop after this many bytes; undefined means no limit. */
  limitBytes?: number;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const known = new Set(['follow', 'previous', 'tailLines', 'limitBytes']);

/** The Workload a logs path names; undefined when the path is not a logs path at all (404). */
export function parseLogsPath(pathname: string): LogsTarget | undefined {
  if (!pathname.startsWith(logsPathPrefix)) return undefined;
  const parts = pathname.slice(logsPathPrefix.length).split('/');
  if (parts.length !== 2) return undefined;
  const [namespace, name] = parts.map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      throw new HttpError(400, `malformed path segment ${JSON.stringify(p)}`);
    }
  }) as [string, string];
  if (namespace.length > 63 || !dnsLabel.test(namespace)) throw new HttpError(400, `invalid namespace ${JSON.stringify(namespace)}: must be a DNS label`);
  if (name.length > 253 || !dnsSubdomain.test(name)) throw new HttpError(400, `invalid workload name ${JSON.stringify(name)}: must be a DNS subdomain`);
  return { namespace, name };
}

export function parseLogsQuery(query: URLSearchParams): LogsOptions {
  const seen = new Set<string>();
  for (const key of query.keys()) {
    if (!known.has(key)) throw new HttpError(400, `unknown parameter ${JSON.stringify(key)} (known: ${[...known].join(', ')})`);
    if (seen.has(key)) throw new HttpError(400, `parameter ${key} given more than once`);
    seen.add(key);
  }
  const tailLines = integer(query, 'tailLines', 0);
  const limitBytes = integer(query, 'limitBytes', 1);
  return {
    follow: boolean(query, 'follow'),
    previous: boolean(query, 'previous'),
    ...(tailLines !== undefined ? { tailLines } : {}),
    ...(limitBytes !== undefined ? { limitBytes } : {}),
  };
}

function boolean(query: URLSearchParams, key: string): boolean {
  const value = query.get(key);
  if (value === null || value === 'false') return false;
  if (value === 'true') return true;
  throw new HttpError(400, `parameter ${key} must be true or false, got ${JSON.stringify(value)}`);
}

function integer(query: URLSearchParams, key: string, min: number): number | undefined {
  const value = query.get(key);
  if (value === null) return undefined;
  const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new HttpError(400, `parameter ${key} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}
