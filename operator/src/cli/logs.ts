// `kubectl shoal logs WORKLOAD`: finds the Workload's node, reads the endpoint its agent publishes in the Node's
// status (URL and CA, both through the authenticated API server), and streams the log from the agent with the
// user's own bearer token, which the agent checks with the API server (get workloads/log).
import { once } from 'node:events';
import { Agent, fetch } from 'undici';
import { nodeType, workloadType, type Node, type Workload } from '../api/generated/types.ts';
import { credentialsFromKubeConfig } from '../runtime/credentials.ts';
import { KubeApiError, isNotFound, type KubeStatus } from '../runtime/kube.ts';
import { resourcePath } from '../runtime/resource.ts';
import { UsageError, defineCommand, expectPositionals, rejectAllNamespaces, stringOption } from './command.ts';
import type { CliContext } from './context.ts';

export interface LogsArgs {
  workload: string;
  follow: boolean;
  previous: boolean;
  /** Undefined: the whole log (--tail -1, the default). */
  tailLines?: number;
  limitBytes?: number;
}

export const logsCommand = defineCommand<LogsArgs>({
  name: 'logs',
  summary: "Print a Workload's container log, from the agent of its node",
  usage: 'kubectl shoal logs WORKLOAD [-f] [--tail N] [-p|--previous] [--limit-bytes N]',
  flags: [
    '  -f, --follow          Stream the log until the container exits (or Ctrl-C).',
    '      --tail N          Only the last N lines; -1 (default) prints all.',
    '  -p, --previous        The previous container of the Workload (before its last restart).',
    '      --limit-bytes N   Stop after N bytes.',
    '',
    'The agent authenticates the request with your kubeconfig\'s bearer token (token, exec plugin or OIDC',
    'credentials; client certificates cannot be checked by the agent) and needs you to be allowed',
    '`get workloads/log` in the namespace; finding the node also needs `get nodes.shoal.dev`.',
  ].join('\n'),
  options: {
    follow: { type: 'boolean', short: 'f' },
    previous: { type: 'boolean', short: 'p' },
    tail: { type: 'string' },
    'limit-bytes': { type: 'string' },
  },
  parse(input) {
    rejectAllNamespaces(input, 'logs');
    const [workload] = expectPositionals(input, ['WORKLOAD'], 'logs');
    const tail = integerOption(stringOption(input.values, 'tail'), 'tail', -1);
    const limitBytes = integerOption(stringOption(input.values, 'limit-bytes'), 'limit-bytes', 1);
    return {
      workload: workload!,
      follow: input.values['follow'] === true,
      previous: input.values['previous'] === true,
      ...(tail !== undefined && tail >= 0 ? { tailLines: tail } : {}),
      ...(limitBytes !== undefined ? { limitBytes } : {}),
    };
  },
  run: streamLogs,
});

function integerOption(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^-?\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}

async function streamLogs(args: LogsArgs, ctx: CliContext): Promise<void> {
  const key = `${ctx.namespace}/${args.workload}`;
  const workload = await ctx.client.request<Workload>('GET', resourcePath(workloadType, ctx.namespace, args.workload)).catch((err: unknown) => {
    throw isNotFound(err) ? new Error(`workload ${key} not found`) : err;
  });
  const nodeName = workload.status?.nodeName;
  if (!nodeName) throw new Error(`workload ${key} is not scheduled yet${workload.status?.message ? `: ${workload.status.message}` : ''}`);
  const node = await ctx.client.request<Node>('GET', resourcePath(nodeType, undefined, nodeName)).catch((err: unknown) => {
    if (isNotFound(err)) throw new Error(`node ${nodeName} of workload ${key} not found`);
    if (err instanceof KubeApiError && err.status === 403) throw new KubeApiError(403, `${err.message} (finding the agent of workload ${key} needs get on nodes.shoal.dev)`, err.reason, err.body);
    throw err;
  });
  const endpoint = node.status?.agentEndpoint;
  if (!endpoint) throw new Error(`node ${nodeName} publishes no agent endpoint: its agent is not running, or runs with --logs-bind-address=0`);
  const authorization = Object.entries(await credentialsFromKubeConfig(ctx.config).headers()).find(([k]) => k.toLowerCase() === 'authorization')?.[1];
  if (!authorization?.startsWith('Bearer ')) {
    throw new Error('your kubeconfig user has no bearer token: the agent authenticates logs requests by token (token, exec plugin or OIDC credentials), not by client certificate');
  }
  const url = new URL(`${endpoint.url}/v1/logs/${encodeURIComponent(ctx.namespace)}/${encodeURIComponent(args.workload)}`);
  if (args.follow) url.searchParams.set('follow', 'true');
  if (args.previous) url.searchParams.set('previous', 'true');
  if (args.tailLines !== undefined) url.searchParams.set('tailLines', String(args.tailLines));
  if (args.limitBytes !== undefined) url.searchParams.set('limitBytes', String(args.limitBytes));
  // Trust exactly the published CA; no body timeout, since a follow may be quiet for long.
  const dispatcher = new Agent({ connect: { ca: endpoint.caBundle }, bodyTimeout: 0 });
  try {
    const response = await fetch(url, { headers: { authorization, accept: 'text/plain, application/json' }, dispatcher }).catch((err: unknown) => {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
      throw new Error(`cannot reach the agent of node ${nodeName} at ${endpoint.url}: ${cause}`);
    });
    if (response.status !== 200) throw new Error(agentError(nodeName, response.status, await response.text()));
    for await (const chunk of response.body ?? []) {
      if (!ctx.out.write(chunk)) await once(ctx.out, 'drain');
    }
  } finally {
    await dispatcher.close();
  }
}

function agentError(node: string, status: number, text: string): string {
  let body: KubeStatus | undefined;
  try {
    body = JSON.parse(text) as KubeStatus;
  } catch {
    body = undefined;
  }
  return `the agent of node ${node} answered ${status}${body?.reason ? ` ${body.reason}` : ''}: ${body?.message ?? text.trim()}`;
}
