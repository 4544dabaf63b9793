// The shape of a kubectl-shoal subcommand: its flags, a parser that turns the command line into typed arguments
// (or a UsageError, exit 2), and the action that runs them against the cluster (any other error, exit 1).
import type { ParseArgsOptionsConfig } from 'node:util';
import type { CliContext } from './context.ts';

/** A mistake on the command line: reported with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface Globals {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces: boolean;
}

export type OptionValue = string | boolean | string[] | undefined;

export interface CommandInput {
  values: Record<string, OptionValue>;
  positionals: string[];
  /** What followed `--`, or undefined when there was no `--`. */
  rest: string[] | undefined;
  globals: Globals;
}

export interface Command<A> {
  name: string;
  summary: string;
  usage: string;
  /** Flag descriptions shown by --help, one per line. */
  flags: string;
  options: ParseArgsOptionsConfig;
  parse(input: CommandInput): A;
  run(args: A, ctx: CliContext): Promise<void>;
}

/** A command with its argument type hidden, so commands of different types share one table. */
export interface AnyCommand {
  name: string;
  summary: string;
  usage: string;
  flags: string;
  options: ParseArgsOptionsConfig;
  prepare(input: CommandInput): { args: unknown; run(ctx: CliContext): Promise<void> };
}

export function defineCommand<A>(command: Command<A>): AnyCommand {
  const { name, summary, usage, flags, options } = command;
  return {
    name,
    summary,
    usage,
    flags,
    options,
    prepare(input) {
      const args = command.parse(input);
      return { args, run: (ctx) => command.run(args, ctx) };
    },
  };
}

export function stringOption(values: Record<string, OptionValue>, key: string): string | undefined {
  const value = values[key];
  return typeof value === 'string' ? value : undefined;
}

export function listOption(values: Record<string, OptionValue>, key: string): string[] {
  const value = values[key];
  return Array.isArray(value) ? value : [];
}

/** Exactly `count` positional arguments named `what`, and no `--`. */
export function expectPositionals(input: CommandInput, what: string[], command: string): string[] {
  if (input.rest !== undefined) throw new UsageError(`${command} takes no arguments after --`);
  if (input.positionals.length < what.length) throw new UsageError(`${command} needs ${what.join(' ')}`);
  if (input.positionals.length > what.length) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(input.positionals[what.length])}`);
  return input.positionals;
}

/** The parser of a command that takes no arguments besides the global flags (a listing). */
export function noArguments(command: string): (input: CommandInput) => Record<string, never> {
  return (input) => {
    expectPositionals(input, [], command);
    return {};
  };
}

/** The namespace flags mean nothing to a command on one object elsewhere: say so rather than ignore -A. */
export function rejectAllNamespaces(input: CommandInput, command: string): void {
  if (input.globals.allNamespaces) throw new UsageError(`${command} does not take -A/--all-namespaces`);
}
