// Feasibility: each filter either passes a node or says why not, in a word and a sentence.
import type { Node, Workload } from '../api/generated/types.ts';
import { formatBytes, formatMilliCpu } from '../api/quantity.ts';
import { isConditionTrue } from '../runtime/conditions.ts';
import { matchesLabelSelector } from '../runtime/labels.ts';
import type { Resources } from './resources.ts';

export interface Rejection {
  node: string;
  reason: string;
  message: string;
}

type Taint = NonNullable<NonNullable<Node['spec']>['taints']>[number];
type Toleration = NonNullable<Workload['spec']['tolerations']>[number];

export function tolerates(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if ((toleration.operator ?? 'Equal') === 'Exists') return !toleration.key || toleration.key === taint.key;
  return toleration.key === taint.key && (toleration.value ?? '') === (taint.value ?? '');
}

export function untolerated(workload: Workload, node: Node, effects: readonly string[]): Taint[] {
  const tolerations = workload.spec.tolerations ?? [];
  return (node.spec?.taints ?? []).filter((taint) => effects.includes(taint.effect) && !tolerations.some((t) => tolerates(t, taint)));
}

/** The first reason `node` cannot take `workload`, or undefined if it can. */
export function rejectNode(workload: Workload, node: Node, request: Resources, used: Resources, allocatable: Resources): Rejection | undefined {
  const name = node.metadata.name ?? '';
  const reject = (reason: string, message: string): Rejection => ({ node: name, reason, message });
  const pinned = workload.spec.nodeName;
  if (pinned && pinned !== name) return reject('NodeNameMismatch', `the workload is pinned to node ${pinned}`);
  if (!isConditionTrue(node.status?.conditions, 'Ready')) return reject('NodeNotReady', 'the node is not Ready');
  if (node.spec?.unschedulable) return reject('Unschedulable', 'the node is cordoned');
  if (!matchesLabelSelector({ matchLabels: workload.spec.nodeSelector ?? {} }, node.metadata.labels)) {
    return reject('NodeSelectorMismatch', "the node's labels do not match spec.nodeSelector");
  }
  const [taint] = untolerated(workload, node, ['NoSchedule', 'NoExecute']);
  if (taint) return reject('UntoleratedTaint', `the node has taint ${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect} that the workload does not tolerate`);
  if (used.workloads + request.workloads > allocatable.workloads) {
    return reject('TooManyWorkloads', `the node runs ${used.workloads} of at most ${allocatable.workloads} workloads`);
  }
  if (used.milliCpu + request.milliCpu > allocatable.milliCpu) {
    return reject('InsufficientCPU', `requests ${formatMilliCpu(request.milliCpu)} CPU, ${formatMilliCpu(Math.max(0, allocatable.milliCpu - used.milliCpu))} of ${formatMilliCpu(allocatable.milliCpu)} free`);
  }
  if (used.memory + request.memory > allocatable.memory) {
    return reject('InsufficientMemory', `requests ${formatBytes(request.memory)} memory, ${formatBytes(Math.max(0, allocatable.memory - used.memory))} of ${formatBytes(allocatable.memory)} free`);
  }
  return undefined;
}
