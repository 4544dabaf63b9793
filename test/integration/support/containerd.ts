// A ContainerdClient on one hack/env.ts node, in the namespace CRI pulls into: what tests and benchmarks use to
// look at (or act on) a node's containerd beside the agent.
import { ContainerdClient } from '../../../agents/runtime/containerd/client.ts';
import type { EnvNode } from '../../../hack/env.ts';
import type { Logger } from '../../../operator/src/runtime/log.ts';

export function connectNode(node: EnvNode, logger: Logger): Promise<ContainerdClient> {
  return ContainerdClient.connect({ address: node.containerd.address, namespace: node.containerd.namespace, logger: logger.child({ node: node.name }) });
}
