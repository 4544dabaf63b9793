// Boundary checks for what proto-loader hands back (untyped objects): each service file converts a
// response into our exported types with these, so a schema surprise fails loudly at the call site.
export class DecodeError extends Error {
    name = 'DecodeError';
}
export function message(value, what) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || Buffer.isBuffer(value)) {
        throw new DecodeError(`${what}: expected a message, got ${value === null ? 'null' : typeof value}`);
    }
    return value;
}
/** A sub-message that proto3 may leave unset (null/undefined). */
export function optionalMessage(value, what) {
    return value === null || value === undefined ? undefined : message(value, what);
}
export function str(msg, field) {
    const value = msg[field];
    if (value === undefined || value === null)
        return '';
    if (typeof value !== 'string')
        throw new DecodeError(`${field}: expected string, got ${typeof value}`);
    return value;
}
export function bool(msg, field) {
    const value = msg[field];
    if (value === undefined || value === null)
        return false;
    if (typeof value !== 'boolean')
        throw new DecodeError(`${field}: expected bool, got ${typeof value}`);
    return value;
}
/** 32-bit ints arrive as numbers, 64-bit ones as decimal strings (longs: String): both become numbers. */
export function num(msg, field) {
    const value = msg[field];
    if (value === undefined || value === null)
        return 0;
    if (typeof value === 'number')
        return value;
    if (typeof value === 'string' && /^-?\d+$/.test(value))
        return Number(value);
    throw new DecodeError(`${field}: expected number, got ${JSON.stringify(value)}`);
}
export function bytes(msg, field) {
    const value = msg[field];
    if (value === undefined || value === null)
        return Buffer.alloc(0);
    if (Buffer.isBuffer(value))
        return value;
    if (value instanceof Uint8Array)
        return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    throw new DecodeError(`${field}: expected bytes, got ${typeof value}`);
}
export function strings(msg, field) {
    const value = msg[field];
    if (value === undefined || value === null)
        return [];
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
        throw new DecodeError(`${field}: expected repeated string`);
    return value;
}
export function messages(msg, field) {
    const value = msg[field];
    if (value === undefined || value === null)
        return [];
    if (!Array.isArray(value))
        throw new DecodeError(`${field}: expected repeated message`);
    return value.map((v, i) => message(v, `${field}[${i}]`));
}
/** map<string, string> fields. */
export function stringMap(msg, field) {
    const value = msg[field];
    if (value === undefined || value === null)
        return {};
    const map = message(value, field);
    const out = {};
    for (const [key, v] of Object.entries(map)) {
        if (typeof v !== 'string')
            throw new DecodeError(`${field}.${key}: expected string`);
        out[key] = v;
    }
    return out;
}
/** The Go zero time.Time (0001-01-01T00:00:00Z), which gogo's non-nullable timestamps send for "unset". */
const goZeroSeconds = -62135596800;
/** google.protobuf.Timestamp → Date; unset, epoch-0 and Go's zero time → undefined. */
export function timestamp(msg, field) {
    const ts = optionalMessage(msg[field], field);
    if (!ts)
        return undefined;
    const seconds = num(ts, 'seconds');
    const nanos = num(ts, 'nanos');
    if (seconds <= goZeroSeconds || (seconds === 0 && nanos === 0))
        return undefined;
    return new Date(seconds * 1000 + Math.floor(nanos / 1e6));
}
/** Date → google.protobuf.Timestamp (64-bit seconds as a string, as proto-loader accepts). */
export function toTimestamp(date) {
    const ms = date.getTime();
    const seconds = Math.floor(ms / 1000);
    return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1e6 };
}
export function any(msg, field) {
    const value = optionalMessage(msg[field], field);
    if (!value)
        return undefined;
    return { typeUrl: str(value, 'type_url'), value: bytes(value, 'value') };
}
