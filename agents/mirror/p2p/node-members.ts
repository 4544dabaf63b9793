// Feeds a PeerDirectory from the shoal.dev Node informer: a Node is a member once its agent has published
// status.peer.id; its addresses, mirror endpoint and Ready condition come along.
import type { Node } from '../../../operator/src/api/generated/types.ts';
import type { EventHandler } from '../../../operator/src/runtime/informer.ts';
import type { Logger } from '../../../operator/src/runtime/log.ts';
import { canonicalPeerId, type Member, type PeerDirectory } from './directory.ts';

/** What followNodes needs from an informer (Informer<Node> satisfies it). */
export interface NodeEvents {
  addHandler(handler: EventHandler<Node>): void;
}

/** The member a Node describes, or undefined while it has no (valid) peer ID. */
export function memberFromNode(node: Node, logger?: Logger): Member | undefined {
  const nodeName = node.metadata.name;
  const rawPeerId = node.status?.peer?.id;
  if (!nodeName || !rawPeerId) return undefined;
  const peerId = canonicalPeerId(rawPeerId);
  if (peerId === undefined) {
    logger?.warn('node publishes an invalid peer ID; not a member', { node: nodeName, peerId: rawPeerId });
    return undefined;
  }
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'False';
  const member: Member = { nodeName, peerId, addresses: node.status?.peer?.addresses ?? [], ready };
  const endpoint = node.status?.mirror?.endpoint;
  if (endpoint) {
    try {
      member.endpoint = new URL(endpoint);
    } catch {
      logger?.warn('node publishes an invalid mirror endpoint', { node: nodeName, endpoint });
    }
  }
  return member;
}

/** Keeps `directory` in step with the informer's Nodes (the informer replays its cache on registration). */
export function followNodes(informer: NodeEvents, directory: PeerDirectory, logger: Logger): void {
  const upsert = (node: Node): void => {
    const member = memberFromNode(node, logger);
    if (member) directory.set(member);
    else if (node.metadata.name) directory.remove(node.metadata.name);
  };
  informer.addHandler({
    add: upsert,
    update: (_old, node) => upsert(node),
    delete: (node) => {
      if (node.metadata.name) directory.remove(node.metadata.name);
    },
  });
}
