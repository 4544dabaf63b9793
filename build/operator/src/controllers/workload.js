// Workload controller: binds each pending Workload to the best node (filter + score), or records per-node
// reasons why none fits. Level-based: pending Workloads are retried whenever nodes or capacity change.
import { workloadType } from "../api/generated/types.js";
import { ownedConditions } from "../runtime/conditions.js";
import { Controller } from "../runtime/controller.js";
import { objectKey } from "../runtime/resource.js";
import { isConflict, isNotFound } from "../runtime/kube.js";
import { applyStatus, statusContains } from "../runtime/writes.js";
import { Binder } from "../scheduler/binder.js";
import { holdingNode, isTerminal } from "../scheduler/resources.js";
import { schedule, summarize } from "../scheduler/schedule.js";
import { fieldManager } from "./names.js";
/** At most this many per-node reasons are stored; counts cover every node. */
const maxListedRejections = 20;
const needsScheduling = (w) => !w.metadata.deletionTimestamp && !isTerminal(w) && !w.status?.nodeName;
/**
 * Decisions are serial (one worker: two Workloads never take the same last slot); their status writes run in
 * the binder, up to `writeConcurrency` in flight, each under the read's resourceVersion so replicas never double-bind.
 */
export function workloadController(deps, writeConcurrency = 16) {
    const { manager, workloads, nodes, accounting } = deps;
    const binder = new Binder({ limit: writeConcurrency, registry: manager.metrics.registry, logger: manager.logger.child({ controller: 'workload' }) });
    const controller = new Controller({ name: 'workload', logger: manager.logger, metrics: manager.metrics, concurrency: 1, reconcile: (ctx) => reconcileWorkload(ctx, full) });
    const full = { ...deps, binder, controller };
    const pending = new Set();
    const retryPending = () => pending.forEach((key) => controller.enqueue(key));
    const track = (w) => {
        const key = objectKey(w);
        accounting.observe(key, w);
        if (needsScheduling(w))
            pending.add(key);
        else
            pending.delete(key);
        controller.enqueue(key);
    };
    workloads.addHandler({
        add: track,
        update: (old, w) => {
            track(w);
            if (holdingNode(old) && !holdingNode(w))
                retryPending(); // capacity was released
        },
        delete: (w) => {
            const key = objectKey(w);
            accounting.observe(key, undefined);
            pending.delete(key);
            if (holdingNode(w))
                retryPending();
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
function schedulingInputsChanged(old, node) {
    const inputs = (n) => JSON.stringify([n.metadata.labels, n.spec, n.status?.allocatable, n.status?.capacity, n.status?.conditions?.find((c) => c.type === 'Ready')?.status]);
    return inputs(old) !== inputs(node);
}
/** The scheduling cycle of one Workload: decide and account now; the write goes out through the binder. */
export async function reconcileWorkload({ key, log, signal }, deps) {
    const { manager, workloads, nodes, accounting, binder, controller } = deps;
    const cached = workloads.get(key);
    if (!cached || !needsScheduling(cached))
        return {}; // deleted, bound, finished or being deleted
    // A write of ours for it is in flight (it is retried when that settles), or its binding is written but not seen yet.
    if (binder.deferIfBusy(key) || accounting.isAssumed(key))
        return {};
    if (!(await binder.whenFree(signal)))
        return {};
    // Decide on the cache as it is now: it may have moved on while we waited for a write slot.
    const workload = workloads.get(key);
    if (!workload || !needsScheduling(workload) || accounting.isAssumed(key))
        return {};
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
                if (wantedAgain)
                    controller.enqueue(key);
                return;
            }
            accounting.forget(key, assumption);
            retryAfterFailure(controller, key, err, log, 'binding failed; requeued');
        });
        return {};
    }
    const status = pendingStatus(workload, decision.rejections, candidates.length, generation);
    if (statusContains(workload.status, status))
        return {};
    binder.start(key, 'unschedulable', () => applyStatus(manager.client, workloadType, workload, status, fieldManager), (err, wantedAgain) => {
        if (err === undefined) {
            log.info('unschedulable', { reasons: status.schedulingFailures?.counts });
            controller.queue.forget(key);
            if (wantedAgain)
                controller.enqueue(key);
            return;
        }
        retryAfterFailure(controller, key, err, log, 'recording unschedulable failed; requeued');
    });
    return {};
}
// A conflict means the cache was behind (or another replica wrote first): the newer version is retried; gone is gone.
function retryAfterFailure(controller, key, err, log, message) {
    if (isNotFound(err))
        return;
    if (isConflict(err))
        log.info(message, { reason: 'Conflict' });
    else
        log.warn(message, { err, retries: controller.queue.retries(key) });
    controller.queue.addRateLimited(key);
}
function boundStatus(workload, node, observedGeneration) {
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
function pendingStatus(workload, rejections, total, observedGeneration) {
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
