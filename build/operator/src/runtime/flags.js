// Command-line flags, each with an environment-variable twin (SHOAL_<FLAG>), like Spegel's go-arg flags.
import { parseArgs } from 'node:util';
export function envName(flag, spec) {
    return spec.env ?? `SHOAL_${flag.toUpperCase().replace(/-/g, '_')}`;
}
/** Precedence: command line, then environment, then default. Unknown flags are an error. */
export function parseFlags(specs, argv, env = process.env) {
    const { values } = parseArgs({
        args: argv,
        options: Object.fromEntries(Object.keys(specs).map((name) => [name, { type: 'string' }])),
        strict: true,
        allowPositionals: false,
    });
    const out = {};
    for (const [name, spec] of Object.entries(specs)) {
        const given = values[name];
        out[name] = typeof given === 'string' ? given : (env[envName(name, spec)] ?? spec.default);
    }
    return out;
}
export function flagHelp(specs) {
    return Object.entries(specs)
        .map(([name, spec]) => `  --${name} (env ${envName(name, spec)}, default ${JSON.stringify(spec.default)})\n      ${spec.help}`)
        .join('\n');
}
export function parseBool(value, flag) {
    if (/^(true|1|yes)$/i.test(value))
        return true;
    if (/^(false|0|no|)$/i.test(value))
        return false;
    throw new Error(`--${flag}: expected true or false, got ${JSON.stringify(value)}`);
}
export function parsePositiveInteger(value, flag) {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
        throw new Error(`--${flag}: expected a positive integer, got ${JSON.stringify(value)}`);
    return n;
}
