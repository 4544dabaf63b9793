// Command-line flags, each with an environment-variable twin (SHOAL_<FLAG>), like Spegel's go-arg flags.
import { parseArgs } from 'node:util';

export interface FlagSpec {
  help: string;
  default: string;
  /** Environment variable; defaults to SHOAL_ + the flag name upper-cased with - → _. */
  env?: string;
}

export type FlagValues<F extends Record<string, FlagSpec>> = { [K in keyof F]: string };

export function envName(flag: string, spec: FlagSpec): string {
  return spec.env ?? `SHOAL_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Precedence: command line, then environment, then default. Unknown flags are an error. */
export function parseFlags<F extends Record<string, FlagSpec>>(specs: F, argv: string[], env: NodeJS.ProcessEnv = process.env): FlagValues<F> {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.keys(specs).map((name) => [name, { type: 'string' as const }])),
    strict: true,
    allowPositionals: false,
  });
  const out: Record<string, string> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const given = values[name];
    out[name] = typeof given === 'string' ? given : (env[envName(name, spec)] ?? spec.default);
  }
  return out as FlagValues<F>;
}

export function flagHelp(specs: Record<string, FlagSpec>): string {
  return Object.entries(specs)
    .map(([name, spec]) => `  --${name} (env ${envName(name, spec)}, default ${JSON.stringify(spec.default)})\n      ${spec.help}`)
    .join('\n');
}

export function parseBool(value: string, flag: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no|)$/i.test(value)) return false;
  throw new Error(`--${flag}: expected true or false, got ${JSON.stringify(value)}`);
}

export function parsePositiveInteger(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: expected a positive integer, got ${JSON.stringify(value)}`);
  return n;
}
