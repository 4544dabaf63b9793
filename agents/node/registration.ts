// Registers this agent's Node CR and keeps its status true: capacity, system info, addresses and the
// conditions the agent owns. Written with our own field manager and only when something changed.
import { nodeType, type Node, type NodeStatus } from '../../operator/src/api/generated/types.ts';
import { formatBytes, formatMilliCpu } from '../../operator/src/api/quantity.ts';
import { ownedConditions, type ConditionInput } from '../../operator/src/runtime/conditions.ts';
import { isAlreadyExists, isNotFound, type KubeClient } from '../../operator/src/runtime/kube.ts';
import { resourcePath } from '../../operator/src/runtime/resource.ts';
import { applyStatus } from '../../operator/src/runtime/writes.ts';
import { hostAddresses, hostCapacity, hostInfo } from './host.ts';

export interface NodeIdentity {
  name: string;
  labels: Record<string, string>;
  maxWorkloads: number;
  agentVersion: string;
  /** The agent's HTTPS endpoint (logs), published so clients find and trust it; unset when disabled. */
  agentEndpoint?: { url: string; caBundle: string };
}

export const agentFieldManager = (node: string): string => `shoal-agent/${node}`;

/** Creates our Node CR if missing; labels from the core Node of the same name (for nodeSelector) plus our own. */
export async function ensureNode(client: KubeClient, identity: NodeIdentity): Promise<Node> {
  const path = resourcePath(nodeType, undefined, identity.name);
  try {
    return await client.request<Node>('GET', path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const core = await coreNode(client, identity.name);
  const node: Node = {
    apiVersion: 'shoal.dev/v1alpha1',
    kind: 'Node',
    metadata: {
      name: identity.name,
      labels: { ...(core?.metadata?.labels ?? {}), ...identity.labels },
      // Garbage-collected with the core Node; no blockOwnerDeletion (agents may not update nodes/finalizers).
      ...(core?.metadata?.uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: identity.name, uid: core.metadata.uid }] } : {}),
    },
    spec: {},
  };
  try {
    return await client.request<Node>('POST', resourcePath(nodeType), { body: node });
  } catch (err) {
    if (isAlreadyExists(err)) return client.request<Node>('GET', path);
    throw err;
  }
}

async function coreNode(client: KubeClient, name: string): Promise<{ metadata?: { labels?: Record<string, string>; uid?: string } } | undefined> {
  try {
    return await client.request('GET', `/api/v1/nodes/${encodeURIComponent(name)}`);
  } catch {
    return undefined; // not on Kubernetes nodes (make up), or not allowed: our own labels suffice
  }
}

export interface AgentHealth {
  containerdVersion?: string;
  /** undefined when containerd answers; otherwise why not. */
  containerdProblem?: string;
}

/** The MirrorReady condition as the mirror computes it (observedGeneration is added here). */
export interface MirrorReadyInput {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

type StatusOf<K extends keyof NodeStatus> = NonNullable<NodeStatus[K]>;

/** The mirror's part of the Node status: the MirrorReady condition, status.peer and status.mirror. */
export interface NodeMirrorReport {
  ready: MirrorReadyInput;
  peer?: StatusOf<'peer'>;
  mirror?: StatusOf<'mirror'>;
}

export type NodeImage = StatusOf<'images'>[number];

/** Facts of the host that change rarely; computed once per check by the caller (they read /proc and /sys). */
export interface HostFacts {
  capacity: { milliCpu: number; memoryBytes: number };
  info: { os: string; arch: string; kernelVersion: string };
  addresses: StatusOf<'addresses'>;
}

export function currentHostFacts(): HostFacts {
  return { capacity: hostCapacity(), info: hostInfo(), addresses: hostAddresses().slice(0, 8) };
}

/** What the agent knows beyond containerd's health; every part is optional so older callers keep working. */
export interface NodeStatusExtras {
  host?: HostFacts;
  mirror?: NodeMirrorReport;
  /** status.images; undefined keeps whatever the Node has (not listed yet). */
  images?: NodeImage[];
}

export function desiredNodeStatus(node: Node, identity: NodeIdentity, health: AgentHealth, extras: NodeStatusExtras = {}): NodeStatus {
  const host = extras.host ?? currentHostFacts();
  const { milliCpu, memoryBytes } = host.capacity;
  const capacity = { cpu: formatMilliCpu(milliCpu), memory: formatBytes(memoryBytes), workloads: identity.maxWorkloads };
  const info = host.info;
  const generation = node.metadata.generation ?? 0;
  const containerd: ConditionInput = health.containerdProblem
    ? { type: 'ContainerdReady', status: 'False', reason: 'ContainerdUnavailable', message: health.containerdProblem, observedGeneration: generation }
    : { type: 'ContainerdReady', status: 'True', reason: 'ContainerdServing', message: `containerd ${health.containerdVersion ?? ''} answers`.trim(), observedGeneration: generation };
  const ready: ConditionInput = health.containerdProblem
    ? { type: 'Ready', status: 'False', reason: 'ContainerdUnavailable', message: 'The agent cannot reach containerd.', observedGeneration: generation }
    : { type: 'Ready', status: 'True', reason: 'AgentReady', message: 'The agent is running and containerd answers.', observedGeneration: generation };
  const conditions: ConditionInput[] = [ready, containerd];
  if (extras.mirror) conditions.push({ type: 'MirrorReady', ...extras.mirror.ready, observedGeneration: generation });
  // Fields we wrote before but do not know yet this time are carried over: leaving them out of the apply
  // would make the API server drop them (server-side apply removes fields a manager stops sending).
  const images = extras.images ?? node.status?.images;
  const mirror = extras.mirror?.mirror;
  const peer = extras.mirror?.peer ?? node.status?.peer;
  return {
    capacity,
    allocatable: capacity,
    nodeInfo: { agentVersion: identity.agentVersion, containerdVersion: health.containerdVersion ?? '', os: info.os, arch: info.arch, kernelVersion: info.kernelVersion },
    addresses: host.addresses,
    ...(identity.agentEndpoint ? { agentEndpoint: identity.agentEndpoint } : {}),
    ...(peer ? { peer } : {}),
    ...(mirror && Object.keys(mirror).length > 0 ? { mirror } : {}),
    ...(images ? { images } : {}),
    conditions: ownedConditions(node.status?.conditions, conditions),
  };
}

export function reportNodeStatus(client: KubeClient, node: Node, identity: NodeIdentity, health: AgentHealth, extras: NodeStatusExtras = {}): Promise<Node | undefined> {
  return applyStatus(client, nodeType, node, desiredNodeStatus(node, identity, health, extras), agentFieldManager(identity.name));
}
