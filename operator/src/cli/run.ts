// `kubectl shoal run NAME --image IMAGE …`: creates a Workload, as `kubectl run` creates a Pod.
import { workloadType, type Workload, type WorkloadSpec } from '../api/generated/types.ts';
import { parseQuantity } from '../api/quantity.ts';
import { resourcePath } from '../runtime/resource.ts';
import { UsageError, defineCommand, expectPositionals, listOption, rejectAllNamespaces, stringOption } from './command.ts';

export interface RunArgs {
  name: string;
  image: string;
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  cpu?: string;
  memory?: string;
  env: { name: string; value: string }[];
  command: string[];
}

const restartPolicies = ['Always', 'OnFailure', 'Never'] as const;
// Kubernetes' rule for environment variable names (IsEnvVarName).
const envName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export const runCommand = defineCommand<RunArgs>({
  name: 'run',
  summary: 'Create a Workload that runs IMAGE',
  usage: 'kubectl shoal run NAME --image IMAGE [--restart Always|OnFailure|Never] [--cpu Q] [--memory Q] [--env K=V]... [-- COMMAND [ARG...]]',
  flags: [
    '      --image IMAGE     The container image (required).',
    '      --restart POLICY  Always (default), OnFailure or Never.',
    '      --cpu Q           CPU request, a quantity such as 500m or 2.',
    '      --memory Q        Memory request, a quantity such as 256Mi.',
    '      --env K=V         An environment variable; repeatable.',
    '  -- COMMAND [ARG...]   Run this instead of the image\'s entrypoint.',
  ].join('\n'),
  options: {
    image: { type: 'string' },
    restart: { type: 'string' },
    cpu: { type: 'string' },
    memory: { type: 'string' },
    env: { type: 'string', multiple: true },
  },
  parse(input) {
    rejectAllNamespaces(input, 'run');
    if (input.positionals.length === 0) throw new UsageError('run needs NAME');
    if (input.positionals.length > 1) throw new UsageError(`run: unexpected argument ${JSON.stringify(input.positionals[1])} (put the command after --)`);
    expectPositionals({ ...input, rest: undefined }, ['NAME'], 'run');
    const image = stringOption(input.values, 'image');
    if (!image) throw new UsageError('run needs --image IMAGE');
    const restart = stringOption(input.values, 'restart');
    if (restart !== undefined && !restartPolicies.includes(restart as RunArgs['restartPolicy'] & string)) {
      throw new UsageError(`--restart must be one of ${restartPolicies.join(', ')}, got ${JSON.stringify(restart)}`);
    }
    const cpu = quantity(input.values, 'cpu');
    const memory = quantity(input.values, 'memory');
    if (input.rest !== undefined && input.rest.length === 0) throw new UsageError('nothing after --: give the COMMAND to run');
    return {
      name: input.positionals[0]!,
      image,
      ...(restart ? { restartPolicy: restart as RunArgs['restartPolicy'] } : {}),
      ...(cpu ? { cpu } : {}),
      ...(memory ? { memory } : {}),
      env: environment(listOption(input.values, 'env')),
      command: input.rest ?? [],
    };
  },
  async run(args, ctx) {
    const spec: WorkloadSpec = {
      image: args.image,
      ...(args.restartPolicy ? { restartPolicy: args.restartPolicy } : {}),
      ...(args.cpu || args.memory ? { resources: { requests: { ...(args.cpu ? { cpu: args.cpu } : {}), ...(args.memory ? { memory: args.memory } : {}) } } } : {}),
      ...(args.env.length ? { env: args.env } : {}),
      ...(args.command.length ? { command: args.command } : {}),
    };
    const workload: Workload = { apiVersion: 'shoal.dev/v1alpha1', kind: 'Workload', metadata: { name: args.name, namespace: ctx.namespace }, spec };
    await ctx.client.request('POST', resourcePath(workloadType, ctx.namespace), { body: workload });
    ctx.out.write(`workload.shoal.dev/${args.name} created\n`);
  },
});

function quantity(values: Record<string, unknown>, key: 'cpu' | 'memory'): string | undefined {
  const value = stringOption(values as Record<string, string>, key);
  if (value === undefined) return undefined;
  try {
    parseQuantity(value);
  } catch (err) {
    throw new UsageError(`--${key}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return value;
}

function environment(pairs: string[]): { name: string; value: string }[] {
  const seen = new Set<string>();
  return pairs.map((pair) => {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0 || !envName.test(name)) throw new UsageError(`--env wants NAME=VALUE with a valid variable name, got ${JSON.stringify(pair)}`);
    if (seen.has(name)) throw new UsageError(`--env ${name} given more than once`);
    seen.add(name);
    return { name, value: pair.slice(eq + 1) };
  });
}
