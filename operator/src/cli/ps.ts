// `kubectl shoal ps`: the Workloads of a namespace (or all, with -A) and where and how they run.
import { workloadType, type Workload } from '../api/generated/types.ts';
import type { KubeList } from '../runtime/resource.ts';
import { resourcePath } from '../runtime/resource.ts';
import { defineCommand, noArguments } from './command.ts';
import { age, formatTable } from './table.ts';

export const psCommand = defineCommand<Record<string, never>>({
  name: 'ps',
  summary: 'List Workloads: phase, reason, node, restarts',
  usage: 'kubectl shoal ps [-n NAMESPACE | -A]',
  flags: '',
  options: {},
  parse: noArguments('ps'),
  async run(_args, ctx) {
    const list = await ctx.client.request<KubeList<Workload>>('GET', resourcePath(workloadType, ctx.allNamespaces ? undefined : ctx.namespace));
    if (list.items.length === 0) {
      ctx.err.write(ctx.allNamespaces ? 'No resources found\n' : `No resources found in ${ctx.namespace} namespace.\n`);
      return;
    }
    const headers = [...(ctx.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'PHASE', 'REASON', 'NODE', 'RESTARTS', 'AGE'];
    const now = Date.now();
    const rows = list.items.map((w) => [
      ...(ctx.allNamespaces ? [w.metadata.namespace ?? ''] : []),
      w.metadata.name ?? '',
      w.status?.phase ?? 'Pending',
      w.status?.reason ?? '',
      w.status?.nodeName ?? '<none>',
      String(w.status?.restartCount ?? 0),
      age(w.metadata.creationTimestamp, now),
    ]);
    ctx.out.write(formatTable(headers, rows));
  },
});
