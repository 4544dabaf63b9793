// The logs endpoint's request: `GET /v1/logs/{namespace}/{name}?follow&tailLines&previous&limitBytes`, validated
// strictly (unknown or repeated parameters are errors, so a typo such as `tail=5` is not silently ignored).
import { HttpError } from "./http-error.js";
export const logsPathPrefix = '/v1/logs/';
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const known = new Set(['follow', 'previous', 'tailLines', 'limitBytes']);
/** The Workload a logs path names; undefined when the path is not a logs path at all (404). */
export function parseLogsPath(pathname) {
    if (!pathname.startsWith(logsPathPrefix))
        return undefined;
    const parts = pathname.slice(logsPathPrefix.length).split('/');
    if (parts.length !== 2)
        return undefined;
    const [namespace, name] = parts.map((p) => {
        try {
            return decodeURIComponent(p);
        }
        catch {
            throw new HttpError(400, `malformed path segment ${JSON.stringify(p)}`);
        }
    });
    if (namespace.length > 63 || !dnsLabel.test(namespace))
        throw new HttpError(400, `invalid namespace ${JSON.stringify(namespace)}: must be a DNS label`);
    if (name.length > 253 || !dnsSubdomain.test(name))
        throw new HttpError(400, `invalid workload name ${JSON.stringify(name)}: must be a DNS subdomain`);
    return { namespace, name };
}
export function parseLogsQuery(query) {
    const seen = new Set();
    for (const key of query.keys()) {
        if (!known.has(key))
            throw new HttpError(400, `unknown parameter ${JSON.stringify(key)} (known: ${[...known].join(', ')})`);
        if (seen.has(key))
            throw new HttpError(400, `parameter ${key} given more than once`);
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
function boolean(query, key) {
    const value = query.get(key);
    if (value === null || value === 'false')
        return false;
    if (value === 'true')
        return true;
    throw new HttpError(400, `parameter ${key} must be true or false, got ${JSON.stringify(value)}`);
}
function integer(query, key, min) {
    const value = query.get(key);
    if (value === null)
        return undefined;
    const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min)
        throw new HttpError(400, `parameter ${key} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
    return n;
}
