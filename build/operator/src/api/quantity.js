// Kubernetes resource quantities ("100m", "0.5", "64Mi", "1Gi", "1e3") parsed exactly (BigInt rationals,
// no float rounding) and converted the way the API server does: milli-values and values round UP.
export class QuantityError extends Error {
    name = 'QuantityError';
}
const binarySuffixes = { Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n, Pi: 1n << 50n, Ei: 1n << 60n };
const decimalExponents = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
// sign, digits with optional fraction, then a binary SI suffix, a decimal exponent (e3/E-2) or a decimal SI suffix.
const grammar = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|[eE]([+-]?\d+)|(n|u|m|k|M|G|T|P|E))?$/;
/** Parses a quantity string (or a plain JS number); throws QuantityError on bad syntax or a negative value. */
export function parseQuantity(input) {
    const text = typeof input === 'number' ? numberToString(input) : input.trim();
    const match = grammar.exec(text);
    if (!match)
        throw new QuantityError(`invalid quantity ${JSON.stringify(input)}`);
    const [, sign, digits = '', binary, exponent, decimal] = match;
    const [whole = '', fraction = ''] = digits.split('.');
    let numerator = BigInt((whole || '0') + fraction);
    let denominator = 10n ** BigInt(fraction.length);
    if (binary) {
        numerator *= binarySuffixes[binary] ?? 1n;
    }
    else {
        const power = exponent !== undefined ? Number(exponent) : (decimalExponents[decimal ?? ''] ?? 0);
        if (Math.abs(power) > 100)
            throw new QuantityError(`quantity exponent out of range: ${JSON.stringify(input)}`);
        if (power >= 0)
            numerator *= 10n ** BigInt(power);
        else
            denominator *= 10n ** BigInt(-power);
    }
    if (sign === '-' && numerator !== 0n)
        throw new QuantityError(`negative quantity ${JSON.stringify(input)}`);
    return { numerator, denominator };
}
function numberToString(value) {
    if (!Number.isFinite(value))
        throw new QuantityError(`invalid quantity ${value}`);
    return String(value); // "0.5", "1e-7", "2e+21": all in the grammar
}
function ceilDiv(a, b) {
    return (a + b - 1n) / b;
}
function toSafeNumber(value, input) {
    if (value > BigInt(Number.MAX_SAFE_INTEGER))
        throw new QuantityError(`quantity too large: ${JSON.stringify(input)}`);
    return Number(value);
}
function asQuantity(input) {
    return typeof input === 'object' ? input : parseQuantity(input);
}
/** ⌈q × 1000⌉, e.g. CPU millicores: "100m" → 100, "0.5" → 500, "1" → 1000, "0.1m" → 1. */
export function milliValue(input) {
    const q = asQuantity(input);
    return toSafeNumber(ceilDiv(q.numerator * 1000n, q.denominator), input);
}
/** ⌈q⌉, e.g. bytes: "64Mi" → 67108864, "1G" → 1e9, "1.5" → 2. */
export function integerValue(input) {
    const q = asQuantity(input);
    return toSafeNumber(ceilDiv(q.numerator, q.denominator), input);
}
/** CPU quantity → millicores. */
export function cpuMillis(input) {
    return milliValue(input);
}
/** Memory (or storage) quantity → bytes. */
export function memoryBytes(input) {
    return integerValue(input);
}
/** CPU in millicores, with a default for an absent quantity. */
export function milliCpu(value, fallback = 0) {
    return value === undefined ? fallback : milliValue(value);
}
/** Bytes, with a default for an absent quantity. */
export function bytes(value, fallback = 0) {
    return value === undefined ? fallback : integerValue(value);
}
export function formatMilliCpu(milli) {
    return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}
/** Bytes in the largest binary unit that keeps an integer, as kubectl prints them. */
export function formatBytes(value) {
    for (const unit of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki']) {
        const size = Number(binarySuffixes[unit] ?? 1n);
        if (value >= size && value % size === 0)
            return `${value / size}${unit}`;
    }
    return String(value);
}
