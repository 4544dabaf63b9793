// Workload controller: binds each pending Workload to the best node (filter + score), or records per-node
// reasons why none fits. Level-based: pending Workloads are retried whenever nodes or capacity change.
import { workloadType, type Node, type Workload, type WorkloadStatus } from '../api/generated/types.ts';
import { ownedConditions } from '../runtime/conditions.ts';
import { Controller, type ReconcileContext, type ReconcileResult } from '../runtime/controller.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Manager } from '../runtime/manager.ts';
import { objectKey } from '../runtime/resource.ts';
import { isConflict, isNotFound } from '../runtime/kube.ts';
import { applyStatus, statusContains } from '../runtime/writes.ts';
import type { NodeAccounting } from '../scheduler/accounting.ts';
import { Binder } from '../scheduler/binder.ts';
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

interface WorkloadDeps extends SchedulingDeps {
  binder: Binder;
  controller: Controller;
}

const needsScheduling = (w: Workload): boolean => !w.metadata.deletionTimestamp && !isTerminal(w) && !w.status?.nodeName;

/**
 * Decisions are serial (one worker: two Workloads never take the same last slot); their status writes run in
 * the binder, up to `writeConcurrency` in flight, each under the read's resourceVersion so replicas never double-bind.
 */
export function workloadController(deps: SchedulingDeps, writeConcurrency = 16): Controller {
  const { manager, workloads, nodes, accounting } = deps;
  const binder = new Binder({ limit: writeConcurrency, registry: manager.metrics.registry, logger: manager.logger.child({ controller: 'workload' }) });
  const controller = new Controller({ name: 'workload', logger: manager.logger, metrics: manager.metrics, concurrency: 1, reconcile: (ctx) => reconcileWorkload(ctx, full) });
  const full: WorkloadDeps = { ...deps, binder, controller };
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
  manager.addLeaderRunnable(async (signal) => {
    await controller.run(signal);
    await binder.drain();
  });
  return controller;
}

// Our own accounting writes (allocated, workloads) change Nodes on every bind; only what filters read matters.
function schedulingInputsChanged(old: Node, node: Node): boolean {
  const inputs = (n: Node): string =>
    JSON.stringify([n.metadata.labels, n.spec, n.status?.allocatable, n.status?.capacity, n.status?.conditions?.find((c) => c.type === 'Ready')?.status]);
  return inputs(old) !== inputs(node);
}

/** The scheduling cycle of one Workload: decide and account now; the write goes out through the binder. */
export async function reconcileWorkload({ key, log, signal }: ReconcileContext, deps: WorkloadDeps): Promise<ReconcileResult> {
  const { manager, workloads, nodes, accounting, binder, controller } = deps;
  const cached = workloads.get(key);
  if (!cached || !needsScheduling(cached)) return {}; // deleted, bound, finished or being deleted
  // A write of ours for it is in flight (it is retried when that settles), or its binding is written but not seen yet.
  if (binder.deferIfBusy(key) || accounting.isAssumed(key)) return {};
  if (!(await binder.whenFree(signal))) return {};
  // Decide on the cache as it is now: it may have moved on while we waited for a write slot.
  const workload = workloads.get(key);
  if (!workload || !needsScheduling(workload) || accounting.isAssumed(key)) return {};

  const candidates = nodes.list();
  const decision = schedule(workload, candidates, accounting);
  const generation = workload.metadata.generation ?? 0;
  if ('node' in decision) {
    // Counted before the write returns, so the next decisions see the capacity as taken.
    const assumption = accounting.assume(key, workload, decision.node);
    const attempt = workload.status?.attempt ?? 1;
    binder.start(key, 'bind', () => applyStatus(manager.client, workloadType, workload, boundStatus(workload, decision.node, generation), fieldManager), (err, wantedAgain) => {
      if (err === undefined) {
        log.info('bound', { node: decision.node, score: Math.round(decision.score), attempt });
        controller.queue.forget(key);
        if (wantedAgain) controller.enqueue(key);
        return;
      }
      accounting.forget(key, assumption);
      retryAfterFailure(controller, key, err, log, 'binding failed; requeued');
    });
    return {};
  }
  const status = pendingStatus(workload, decision.rejections, candidates.length, generation);
  if (statusContains(workload.status, status)) return {};
  binder.start(key, 'unschedulable', () => applyStatus(manager.client, workloadType, workload, status, fieldManager), (err, wantedAgain) => {
    if (err === undefined) {
      log.info('unschedulable', { reasons: status.schedulingFailures?.counts });
      controller.queue.forget(key);
      if (wantedAgain) controller.enqueue(key);
      return;
    }
    retryAfterFailure(controller, key, err, log, 'recording unschedulable failed; requeued');
  });
  return {};
}

// A conflict means the cache was behind (or another replica wrote first): the newer version is retried; gone is gone.
function retryAfterFailure(controller: Controller, key: string, err: unknown, log: ReconcileContext['log'], message: string): void {
  if (isNotFound(err)) return;
  if (isConflict(err)) log.info(message, { reason: 'Conflict' });
  else log.warn(message, { err, retries: controller.queue.retries(key) });
  controller.queue.addRateLimited(key);
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
