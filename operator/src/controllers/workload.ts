// Workload controller: binds each pending Workload to the best node (filter + score), or records per-node
// reasons why none fits. Level-based: pending Workloads are retried whenever nodes or capacity change.
import { workloadType, type Node, type Workload, type WorkloadStatus } from '../api/generated/types.ts';
import { ownedConditions } from '../runtime/conditions.ts';
import { Controller, type ReconcileContext, type ReconcileResult } from '../runtime/controller.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Manager } from '../runtime/manager.ts';
import { objectKey } from '../runtime/resource.ts';
import { applyStatus } from '../runtime/writes.ts';
import type { NodeAccounting } from '../scheduler/accounting.ts';
import { holdingNode, isTerminal } from '../scheduler/resources.ts';
import { schedule, summarize } from '../scheduler/schedule.ts';
import { fieldManager } from './names.ts';

/** At most this many per-node reasons are stored; counts cover every node. */
const maxListedRejections = 20;

export interface SchedulingDeps {
  manager: Manager;
  workloads: Informer<Workload>;
  nodes: Informer<Node>;
  accounting: NodeAccounting;
}

const needsScheduling = (w: Workload): boolean => !w.metadata.deletionTimestamp && !isTerminal(w) && !w.status?.nodeName;

export function workloadController(deps: SchedulingDeps, concurrency = 16): Controller {
  const { manager, workloads, nodes, accounting } = deps;
  const controller = new Controller({ name: 'workload', logger: manager.logger, metrics: manager.metrics, concurrency, reconcile: (ctx) => reconcileWorkload(ctx, deps) });
  const pending = new Set<string>();
  const retryPending = (): void => pending.forEach((key) => controller.enqueue(key));
  const track = (w: Workload): void => {
    const key = objectKey(w);
    accounting.observe(key, w);
    if (needsScheduling(w)) pending.add(key);
    else pending.delete(key);
    controller.enqueue(key);
  };
  workloads.addHandler({
    add: track,
    update: (old, w) => {
      track(w);
      if (holdingNode(old) && !holdingNode(w)) retryPending(); // capacity was released
    },
    delete: (w) => {
      const key = objectKey(w);
      accounting.observe(key, undefined);
      pending.delete(key);
      if (holdingNode(w)) retryPending();
    },
  });
  nodes.addHandler({ add: retryPending, update: (old, node) => schedulingInputsChanged(old, node) && retryPending(), delete: retryPending });
  manager.addLeaderRunnable((signal) => controller.run(signal));
  return controller;
}

// Our own accounting writes (allocated, workloads) change Nodes on every bind; only what filters read matters.
function schedulingInputsChanged(old: Node, node: Node): boolean {
  const inputs = (n: Node): string =>
    JSON.stringify([n.metadata.labels, n.spec, n.status?.allocatable, n.status?.capacity, n.status?.conditions?.find((c) => c.type === 'Ready')?.status]);
  return inputs(old) !== inputs(node);
}

export async function reconcileWorkload({ key, log }: ReconcileContext, { manager, workloads, nodes, accounting }: SchedulingDeps): Promise<ReconcileResult> {
  const workload = workloads.get(key);
  if (!workload) return {}; // deleted
  if (!needsScheduling(workload)) return {}; // bound, finished or being deleted: the agent and node controller own it now

  const candidates = nodes.list();
  const decision = schedule(workload, candidates, accounting);
  const generation = workload.metadata.generation ?? 0;
  if ('node' in decision) {
    // Count the binding before the write returns, so concurrent decisions see the capacity as taken.
    accounting.assume(key, workload, decision.node);
    try {
      await applyStatus(manager.client, workloadType, workload, boundStatus(workload, decision.node, generation), fieldManager);
    } catch (err) {
      accounting.forget(key);
      throw err;
    }
    log.info('bound', { node: decision.node, score: Math.round(decision.score), attempt: workload.status?.attempt ?? 1 });
    return {};
  }
  const written = await applyStatus(manager.client, workloadType, workload, pendingStatus(workload, decision.rejections, candidates.length, generation), fieldManager);
  if (written) log.info('unschedulable', { reasons: written.status?.schedulingFailures?.counts });
  return {};
}

function boundStatus(workload: Workload, node: string, observedGeneration: number): WorkloadStatus {
  return {
    observedGeneration,
    phase: 'Scheduled',
    reason: 'Scheduled',
    message: `Bound to node ${node}.`,
    nodeName: node,
    attempt: workload.status?.attempt ?? 1,
    conditions: ownedConditions(workload.status?.conditions, [
      { type: 'Scheduled', status: 'True', reason: 'Bound', message: `Bound to node ${node}.`, observedGeneration },
      { type: 'Ready', status: 'False', reason: 'ContainerCreating', message: `Waiting for the agent on node ${node} to start the container.`, observedGeneration },
    ]),
  };
}

function pendingStatus(workload: Workload, rejections: Parameters<typeof summarize>[0], total: number, observedGeneration: number): WorkloadStatus {
  const { message, counts } = summarize(rejections, total);
  const nodes = [...rejections].sort((a, b) => a.node.localeCompare(b.node)).slice(0, maxListedRejections);
  return {
    observedGeneration,
    phase: 'Pending',
    reason: 'Unschedulable',
    message,
    attempt: workload.status?.attempt ?? 1,
    schedulingFailures: { nodes, counts },
    conditions: ownedConditions(workload.status?.conditions, [
      { type: 'Scheduled', status: 'False', reason: 'Unschedulable', message, observedGeneration },
      { type: 'Ready', status: 'False', reason: 'Unschedulable', message, observedGeneration },
    ]),
  };
}
