// kubectl-shoal, the kubectl plugin (`kubectl shoal …`; bin/kubectl-shoal runs this file): global kubectl-style
// flags anywhere on the line, one subcommand, exit 0 on success, 1 on an error, 2 on a usage mistake.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { KubeApiError } from '../runtime/kube.ts';
import { UsageError, type AnyCommand, type CommandInput, type Globals } from './command.ts';
import { loadContext, type CliContext } from './context.ts';
import { cordonCommand, uncordonCommand } from './cordon.ts';
import { logsCommand } from './logs.ts';
import { nodesCommand } from './nodes.ts';
import { psCommand } from './ps.ts';
import { runCommand } from './run.ts';

export const commands: readonly AnyCommand[] = [runCommand, psCommand, nodesCommand, logsCommand, cordonCommand, uncordonCommand];

const globalOptions = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

const globalHelp = [
  'Global flags:',
  '      --kubeconfig PATH     The kubeconfig to use (default $KUBECONFIG, then ~/.kube/config).',
  '      --context NAME        The kubeconfig context to use.',
  '  -n, --namespace NS        The namespace (default: the context\'s, else "default").',
  '  -A, --all-namespaces      Every namespace (ps).',
  '  -h, --help                Help for kubectl shoal or a command.',
].join('\n');

export type ParsedCommandLine = { help: string } | { command: string; globals: Globals; args: unknown; run(ctx: CliContext): Promise<void> };

/** Parses argv (after the program name); throws UsageError. */
export function parseCommandLine(argv: string[]): ParsedCommandLine {
  const dash = argv.indexOf('--');
  const before = dash < 0 ? argv : argv.slice(0, dash);
  const rest = dash < 0 ? undefined : argv.slice(dash + 1);
  const at = commandIndex(before);
  if (at < 0) {
    const { values } = parse(before, globalOptions, false);
    if (values['help'] === true) return { help: topHelp() };
    throw new UsageError('no command given');
  }
  const name = before[at];
  const command = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)} (commands: ${commands.map((c) => c.name).join(', ')})`);
  const { values, positionals } = parse([...before.slice(0, at), ...before.slice(at + 1)], { ...globalOptions, ...command.options }, true);
  if (values['help'] === true) return { help: commandHelp(command) };
  const namespace = values['namespace'];
  if (namespace === '') throw new UsageError('--namespace must not be empty');
  const globals: Globals = {
    ...(typeof values['kubeconfig'] === 'string' ? { kubeconfig: values['kubeconfig'] } : {}),
    ...(typeof values['context'] === 'string' ? { context: values['context'] } : {}),
    ...(typeof namespace === 'string' ? { namespace } : {}),
    allNamespaces: values['all-namespaces'] === true,
  };
  const input: CommandInput = { values, positionals, rest, globals };
  return { command: command.name, globals, ...command.prepare(input) };
}

// The first word that is neither a flag nor the value of a global flag: global flags may come before the command.
function commandIndex(argv: string[]): number {
  const takesValue = new Set(['--kubeconfig', '--context', '--namespace', '-n']);
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('-') || token === '-') return i;
    if (takesValue.has(token)) i++;
  }
  return -1;
}

function parse(args: string[], options: ParseArgsOptionsConfig, allowPositionals: boolean): { values: CommandInput['values']; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: negativeValuesJoined(args, options), options, strict: true, allowPositionals });
    return { values: values as CommandInput['values'], positionals };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

// parseArgs refuses `--tail -1` as ambiguous; a negative number after a string flag is that flag's value.
function negativeValuesJoined(args: string[], options: ParseArgsOptionsConfig): string[] {
  const stringFlags = new Set(Object.entries(options).flatMap(([name, o]) => (o.type === 'string' ? [`--${name}`, ...(o.short ? [`-${o.short}`] : [])] : [])));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!;
    const next = args[i + 1];
    if (stringFlags.has(token) && next !== undefined && /^-\d+$/.test(next)) {
      out.push(`${token.startsWith('--') ? token : `--${longName(token, options)}`}=${next}`);
      i++;
    } else out.push(token);
  }
  return out;
}

function longName(short: string, options: ParseArgsOptionsConfig): string {
  return Object.entries(options).find(([, o]) => `-${o.short}` === short)?.[0] ?? short.slice(1);
}

function topHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'kubectl shoal: run and inspect Shoal Workloads and Nodes.',
    '',
    'Usage:',
    '  kubectl shoal COMMAND [flags]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`),
    '',
    globalHelp,
    '',
    "Use 'kubectl shoal COMMAND --help' for a command's flags.",
    '',
  ].join('\n');
}

function commandHelp(command: AnyCommand): string {
  return [`${command.summary}.`, '', 'Usage:', `  ${command.usage}`, '', ...(command.flags ? ['Flags:', command.flags, ''] : []), globalHelp, ''].join('\n');
}

function describe(err: unknown): string {
  if (err instanceof KubeApiError) return `Error from server (${err.reason || err.status}): ${err.message}`;
  if (!(err instanceof Error)) return `error: ${String(err)}`;
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `error: ${err.message}${cause}`;
}

export interface Streams {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export async function main(argv: string[], streams: Streams = { out: process.stdout, err: process.stderr }): Promise<number> {
  let parsed: ParsedCommandLine;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const command = commands.find((c) => argv.includes(c.name));
    streams.err.write(`error: ${err.message}\nSee 'kubectl shoal ${command ? `${command.name} ` : ''}--help' for usage.\n`);
    return 2;
  }
  if ('help' in parsed) {
    streams.out.write(parsed.help);
    return 0;
  }
  let ctx: CliContext | undefined;
  try {
    ctx = loadContext(parsed.globals, streams);
    await parsed.run(ctx);
    return 0;
  } catch (err) {
    streams.err.write(`${describe(err)}\n`);
    return 1;
  } finally {
    await ctx?.client.close();
  }
}

if (import.meta.main) {
  // A reader that goes away (`| head`) is not an error of ours.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
  const code = await main(process.argv.slice(2));
  // Exit once stdout and stderr are flushed: a pipe is written asynchronously and process.exit would cut it.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
