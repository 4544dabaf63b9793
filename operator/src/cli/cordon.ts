// `kubectl shoal cordon|uncordon NODE`: sets or clears spec.unschedulable, as kubectl cordon does for core Nodes.
import { nodeType, type Node } from '../api/generated/types.ts';
import { ContentType, isNotFound } from '../runtime/kube.ts';
import { resourcePath } from '../runtime/resource.ts';
import { defineCommand, expectPositionals, rejectAllNamespaces, type AnyCommand } from './command.ts';

function schedulingCommand(cordon: boolean): AnyCommand {
  const name = cordon ? 'cordon' : 'uncordon';
  return defineCommand<{ node: string }>({
    name,
    summary: cordon ? 'Mark a node unschedulable: new Workloads are not bound to it; bound ones keep running' : 'Mark a node schedulable again',
    usage: `kubectl shoal ${name} NODE`,
    flags: '',
    options: {},
    parse(input) {
      rejectAllNamespaces(input, name);
      const [node] = expectPositionals(input, ['NODE'], name);
      return { node: node! };
    },
    async run({ node }, ctx) {
      const path = resourcePath(nodeType, undefined, node);
      const current = await ctx.client.request<Node>('GET', path).catch((err: unknown) => {
        throw isNotFound(err) ? new Error(`node ${node} not found`) : err;
      });
      if (Boolean(current.spec?.unschedulable) === cordon) {
        ctx.out.write(`node.shoal.dev/${node} already ${name}ed\n`);
        return;
      }
      // null removes the field, leaving the schema's default (false) as before any cordon.
      await ctx.client.request('PATCH', path, { contentType: ContentType.mergePatch, body: { spec: { unschedulable: cordon ? true : null } } });
      ctx.out.write(`node.shoal.dev/${node} ${name}ed\n`);
    },
  });
}

export const cordonCommand = schedulingCommand(true);
export const uncordonCommand = schedulingCommand(false);
