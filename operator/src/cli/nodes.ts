// `kubectl shoal nodes`: the Shoal Nodes, whether their agents are Ready, and what is allocated on them.
import { nodeType, type Node } from '../api/generated/types.ts';
import { findCondition } from '../runtime/conditions.ts';
import type { KubeList } from '../runtime/resource.ts';
import { resourcePath } from '../runtime/resource.ts';
import { defineCommand, noArguments } from './command.ts';
import { age, formatTable } from './table.ts';

export const nodesCommand = defineCommand<Record<string, never>>({
  name: 'nodes',
  summary: 'List Shoal Nodes: readiness and allocated/allocatable workloads, CPU and memory',
  usage: 'kubectl shoal nodes',
  flags: '',
  options: {},
  parse: noArguments('nodes'),
  async run(_args, ctx) {
    const list = await ctx.client.request<KubeList<Node>>('GET', resourcePath(nodeType));
    if (list.items.length === 0) {
      ctx.err.write('No resources found\n');
      return;
    }
    const now = Date.now();
    const used = (n: Node, key: 'cpu' | 'memory' | 'workloads'): string => `${n.status?.allocated?.[key] ?? 0}/${n.status?.allocatable?.[key] ?? '?'}`;
    const rows = list.items.map((n) => [
      n.metadata.name ?? '',
      (findCondition(n.status?.conditions, 'Ready')?.status ?? 'Unknown') + (n.spec?.unschedulable ? ',SchedulingDisabled' : ''),
      `${n.status?.workloads ?? 0}/${n.status?.allocatable?.workloads ?? '?'}`,
      used(n, 'cpu'),
      used(n, 'memory'),
      age(n.metadata.creationTimestamp, now),
    ]);
    ctx.out.write(formatTable(['NAME', 'READY', 'WORKLOADS', 'CPU', 'MEMORY', 'AGE'], rows));
  },
});
