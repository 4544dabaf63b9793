// Go-style durations ("20ms", "1m30s", "1h"), as the CRDs and flags write them, in milliseconds.
const units = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
export function parseDuration(text) {
    const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text)
        throw new Error(`invalid duration ${JSON.stringify(text)} (want e.g. 500ms, 40s, 1m30s)`);
    return parts.reduce((total, [, value = '0', unit = 's']) => total + Number(value) * (units[unit] ?? 0), 0);
}
