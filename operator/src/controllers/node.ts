// Node lifecycle controller: marks a Node Ready=False (LeaseExpired) when its agent's Lease stops being renewed,
// and after a further grace period fails its Workloads with reason NodeLost, rescheduling those whose
// restartPolicy allows as a new attempt. Also publishes each Node's accounted requests for `kubectl get snode`.
import { nodeType, workloadType, type Node, type NodeStatus, type Workload } from '../api/generated/types.ts';
import { formatBytes, formatMilliCpu } from '../api/quantity.ts';
import { ownedConditions, setConditions, type ConditionInput } from '../runtime/conditions.ts';
import { Controller, type ReconcileContext, type ReconcileResult } from '../runtime/controller.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Lease } from '../runtime/leader.ts';
import { objectKey } from '../runtime/resource.ts';
import { applyStatus, patchStatus, removeFinalizer, statusContains } from '../runtime/writes.ts';
import { AllocatedPacer } from '../scheduler/allocated-pacer.ts';
import { isTerminal } from '../scheduler/resources.ts';
import { agentFinalizer, fieldManager, nodeLeaseNamespace } from './names.ts';
import type { SchedulingDeps } from './workload.ts';

export interface NodeLifecycleOptions {
  /** A Node is NotReady this long after its Lease was last renewed (kube's node-monitor-grace-period is 40 s). */
  leaseTimeoutMs: number;
  /** A NotReady Node's Workloads are failed and rescheduled after this much longer. */
  lostGraceMs: number;
}

interface Deps extends SchedulingDeps {
  leases: Informer<Lease>;
  options: NodeLifecycleOptions;
  heartbeats: Heartbeats;
  pacer: AllocatedPacer;
}

/** Writes of `allocated` alone, across all nodes (client-go's controller default is 20 QPS). */
const allocatedWritesPerSecond = 20;
/** While bindings are in flight a node's `allocated` waits at most this long: bindings have the API server first. */
const allocatedMaxDeferMs = 30_000;
/** Bindings landing on one node within this window are published in one write. */
const allocatedCoalesceMs = 1000;
/** The scheduler counts as busy this long after its last decision (in flight it may drain now and then). */
const schedulerBusyMs = 2000;

/** When we last saw each node's Lease change, by our own clock (skew-safe, like the leader election). */
class Heartbeats {
  readonly #seen = new Map<string, { renewTime: string; at: number }>();

  lastSeen(node: string, lease: Lease | undefined): number {
    const renewTime = lease?.spec?.renewTime ?? '';
    const known = this.#seen.get(node);
    if (known && known.renewTime === renewTime) return known.at;
    const at = performance.now();
    this.#seen.set(node, { renewTime, at });
    return at;
  }

  forget(node: string): void {
    this.#seen.delete(node);
  }
}

export function nodeLifecycleController(deps: SchedulingDeps, options: NodeLifecycleOptions): Controller {
  const { manager, workloads, nodes } = deps;
  const leases = manager.informers.for<Lease>({ group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true }, { namespace: nodeLeaseNamespace });
  const pacer = new AllocatedPacer({ perSecond: allocatedWritesPerSecond, burst: allocatedWritesPerSecond, maxDeferMs: allocatedMaxDeferMs, recheckMs: allocatedCoalesceMs });
  const full: Deps = { ...deps, leases, options, heartbeats: new Heartbeats(), pacer };
  const controller = new Controller({ name: 'node', logger: manager.logger, metrics: manager.metrics, concurrency: 4, reconcile: (ctx) => reconcileNode(ctx, full) });
  const enqueueName = (obj: { metadata: { name?: string } }): void => controller.enqueue(obj.metadata.name ?? '');
  nodes.addHandler({ add: enqueueName, update: (_old, node) => enqueueName(node), delete: enqueueName });
  leases.addHandler({ add: enqueueName, update: (_old, lease) => enqueueName(lease), delete: enqueueName });
  // A Workload binding or finishing changes what its node has allocated; a burst of them is one reconcile.
  const enqueueNodeOf = (w: Workload): void => {
    if (w.status?.nodeName) controller.queue.addAfter(w.status.nodeName, allocatedCoalesceMs);
  };
  workloads.addHandler({ add: enqueueNodeOf, update: (old, w) => (enqueueNodeOf(old), enqueueNodeOf(w)), delete: enqueueNodeOf });
  manager.addLeaderRunnable((signal) => controller.run(signal));
  return controller;
}

export async function reconcileNode({ key: name, log }: ReconcileContext, deps: Deps): Promise<ReconcileResult> {
  const { manager, nodes, leases, accounting, heartbeats, options, pacer } = deps;
  const node = nodes.get(name);
  if (!node) {
    heartbeats.forget(name);
    pacer.release(name);
    return {};
  }

  const silentMs = performance.now() - heartbeats.lastSeen(name, leases.get(`${nodeLeaseNamespace}/${name}`));
  const expired = silentMs >= options.leaseTimeoutMs;
  const lost = silentMs >= options.leaseTimeoutMs + options.lostGraceMs;
  const used = accounting.used(name);
  const status: NodeStatus = {
    observedGeneration: node.metadata.generation ?? 0,
    workloads: used.workloads,
    allocated: { cpu: formatMilliCpu(used.milliCpu), memory: formatBytes(used.memory), workloads: used.workloads },
  };
  if (expired) status.conditions = ownedConditions(node.status?.conditions, [leaseExpired(node.metadata.generation ?? 0)]);
  const nextThreshold = expired ? options.leaseTimeoutMs + options.lostGraceMs : options.leaseTimeoutMs;
  const untilThreshold = Math.max(100, nextThreshold - silentMs + 50);
  // A lease condition (or a lost node's release) goes out at once; a change of `allocated` alone waits its turn.
  const conditionChanges = expired && !statusContains(node.status, { conditions: status.conditions });
  if (!lost && !conditionChanges && !statusContains(node.status, status)) {
    const wait = pacer.waitFor(name, performance.now() - accounting.lastAssumedAt < schedulerBusyMs);
    if (wait > 0) return { requeueAfterMs: Math.min(untilThreshold, Math.ceil(wait)) };
  }
  const written = await applyStatus(manager.client, nodeType, node, status, fieldManager);
  pacer.release(name);
  if (written && expired) log.warn('node lease expired', { silentSeconds: Math.round(silentMs / 1000) });

  if (lost) await releaseWorkloads(name, deps, log);
  if (lost) return {};
  return { requeueAfterMs: untilThreshold };
}

// The message stays fixed while expired, so the condition is written once, not on every check.
function leaseExpired(observedGeneration: number): ConditionInput {
  return { type: 'Ready', status: 'False', reason: 'LeaseExpired', message: 'The agent stopped renewing its Lease; the node is unreachable.', observedGeneration };
}

/** Fails (restartPolicy Never) or reschedules as a new attempt every unfinished Workload bound to a lost node. */
async function releaseWorkloads(node: string, { manager, workloads }: Deps, log: ReconcileContext['log']): Promise<void> {
  for (const workload of workloads.list()) {
    if (workload.status?.nodeName !== node) continue;
    if (workload.metadata.deletionTimestamp) {
      // Nobody is left to stop the container: release the agent's finalizer so the delete completes.
      await removeFinalizer(manager.client, workloadType, workload, agentFinalizer);
      continue;
    }
    if (isTerminal(workload)) continue;
    const attempt = workload.status?.attempt ?? 1;
    const message = `Node ${node} was lost while running attempt ${attempt}.`;
    const conditions = (inputs: ConditionInput[]): unknown => setConditions(workload.status?.conditions, inputs);
    const generation = workload.metadata.generation ?? 0;
    if ((workload.spec.restartPolicy ?? 'Always') === 'Never') {
      await patchStatus(manager.client, workloadType, workload, {
        phase: 'Failed',
        reason: 'NodeLost',
        message,
        conditions: conditions([{ type: 'Ready', status: 'False', reason: 'NodeLost', message, observedGeneration: generation }]),
      });
      log.warn('workload failed: node lost', { workload: objectKey(workload) });
      continue;
    }
    // A reset, not an apply: the lost agent's fields (container, exit code, times) must go with the attempt.
    await patchStatus(manager.client, workloadType, workload, {
      phase: 'Pending',
      reason: 'NodeLost',
      message: `${message} Rescheduling as attempt ${attempt + 1}.`,
      nodeName: null,
      attempt: attempt + 1,
      containerID: null,
      imageID: null,
      startedAt: null,
      finishedAt: null,
      exitCode: null,
      imagePull: null,
      conditions: conditions([
        { type: 'Scheduled', status: 'False', reason: 'NodeLost', message, observedGeneration: generation },
        { type: 'Ready', status: 'False', reason: 'NodeLost', message, observedGeneration: generation },
      ]),
    });
    log.warn('workload rescheduled: node lost', { workload: objectKey(workload), attempt: attempt + 1 });
  }
}
