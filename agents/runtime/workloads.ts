// Runs the Workloads bound to this node. Level-based on containerd's own state: each reconcile lists the
// containers labelled with the Workload, adopts a running one (after an agent restart too), records an exit
// exactly once, restarts per restartPolicy with CrashLoopBackOff, and removes whatever is no longer bound here.
import { workloadType, type Workload, type WorkloadStatus } from '../../operator/src/api/generated/types.ts';
import { agentFinalizer } from '../../operator/src/controllers/names.ts';
import { enqueueObject } from '../../operator/src/controllers/enqueue.ts';
import { Backoff, sleep } from '../../operator/src/runtime/backoff.ts';
import { kubeTime, ownedConditions, type ConditionInput } from '../../operator/src/runtime/conditions.ts';
import { Controller, type ReconcileContext, type ReconcileResult } from '../../operator/src/runtime/controller.ts';
import type { Informer } from '../../operator/src/runtime/informer.ts';
import type { KubeClient } from '../../operator/src/runtime/kube.ts';
import type { Logger } from '../../operator/src/runtime/log.ts';
import type { Manager } from '../../operator/src/runtime/manager.ts';
import { addFinalizer, applyStatus, removeFinalizer } from '../../operator/src/runtime/writes.ts';
import { isTerminal } from '../../operator/src/scheduler/resources.ts';
import { agentFieldManager } from '../node/registration.ts';
import { detectCgroup, type CgroupInfo } from './containerd/cgroup.ts';
import type { ContainerdClient } from './containerd/client.ts';
import { isNotFound } from './containerd/errors.ts';
import { and, labelEquals, namespaceEquals, topicEquals } from './containerd/filters.ts';
import type { TaskExit, TaskInfo } from './containerd/tasks.ts';
import { StartError, ensureImage, removeIncarnation, startIncarnation } from './lifecycle.ts';
import { crashLoopDelayMs, incarnationOf, label, logFile, type Incarnation } from './naming.ts';

export interface WorkloadRuntimeOptions {
  manager: Manager;
  client: KubeClient;
  containerd: ContainerdClient;
  node: string;
  stateDir: string;
  runcRoot?: string;
  logger: Logger;
}

interface Deps extends WorkloadRuntimeOptions {
  workloads: Informer<Workload>;
  cgroup: Promise<CgroupInfo>;
  pullFailures: Map<string, number>;
  snapshot: ResyncSnapshot;
}

/** The part of a Workload's status the agent owns; conditions without transition times (writeStatus keeps them). */
type AgentStatus = Omit<WorkloadStatus, 'conditions'> & { conditions?: ConditionInput[] };

interface Found extends Incarnation {
  id: string;
}

/**
 * One resync's view of containerd — every container of ours and every task, from one list call each — so the
 * periodic check of N Workloads costs 2 gRPC calls instead of 2N. A key's view is used once, by its next
 * reconcile, and only if nothing could have changed it since the lists were asked for: no reconcile of that key
 * ended after (containers change only in our reconciles) and no task exited (exits are events).
 */
export class ResyncSnapshot {
  #containers = new Map<string, Found[]>();
  #tasks = new Map<string, TaskInfo>();
  #takenAt = 0;
  #exits = 0;
  #exitsAtTake = 0;
  readonly #lastReconciled = new Map<string, number>();

  /** Stores a view listed from `askedAt` (taken before the list calls) for `keys` and any key with containers. */
  set(askedAt: number, exitsAtAsk: number, found: readonly Found[], tasks: readonly TaskInfo[], keys: Iterable<string>): void {
    this.#containers = new Map();
    for (const key of keys) this.#containers.set(key, []);
    for (const c of found) this.#containers.set(c.key, [...(this.#containers.get(c.key) ?? []), c]);
    this.#tasks = new Map(tasks.filter((t) => t.execId === '').map((t) => [t.containerId, t]));
    this.#takenAt = askedAt;
    this.#exitsAtTake = exitsAtAsk;
    // Only reconciles that ended after the lists were asked for can invalidate this view.
    for (const [k, at] of this.#lastReconciled) if (at < askedAt) this.#lastReconciled.delete(k);
  }

  get exits(): number {
    return this.#exits;
  }

  /** A task exited: every view taken before is stale. */
  exited(): void {
    this.#exits++;
    this.#containers.clear();
  }

  /** The key's containers and their tasks if its view is still true; consumed either way. */
  take(key: string): { found: Found[]; task(id: string): TaskInfo | undefined } | undefined {
    const found = this.#containers.get(key);
    this.#containers.delete(key);
    if (!found || this.#exits !== this.#exitsAtTake || (this.#lastReconciled.get(key) ?? -Infinity) >= this.#takenAt) return undefined;
    return { found, task: (id) => this.#tasks.get(id) };
  }

  reconciled(key: string): void {
    this.#lastReconciled.set(key, performance.now());
  }
}

export function runWorkloads(options: WorkloadRuntimeOptions): Controller {
  const { manager, node, logger } = options;
  // Only the Workloads bound here: a selectable field of the CRD, so the API server filters.
  const workloads = manager.informers.for<Workload>(workloadType, { fieldSelector: `status.nodeName=${node}` });
  const deps: Deps = { ...options, workloads, cgroup: detectCgroup(), pullFailures: new Map(), snapshot: new ResyncSnapshot() };
  const controller = new Controller({ name: 'agent-workload', logger, metrics: manager.metrics, concurrency: 4, reconcile: (ctx) => reconcileBound(ctx, deps) });
  workloads.addHandler(enqueueObject(controller));
  manager.addLeaderRunnable((signal) => controller.run(signal));
  manager.addLeaderRunnable((signal) => watchExits(deps, controller, signal));
  manager.addLeaderRunnable((signal) => resync(deps, controller, signal));
  return controller;
}

async function incarnations({ containerd, node }: Deps, key?: string): Promise<Found[]> {
  const [namespace, name] = key?.split('/') ?? [];
  const filter = key
    ? and(labelEquals(label.managed, 'true'), labelEquals(label.node, node), labelEquals(label.namespace, namespace ?? ''), labelEquals(label.name, name ?? ''))
    : and(labelEquals(label.managed, 'true'), labelEquals(label.node, node));
  const containers = await containerd.containers.list([filter]);
  return containers.flatMap((c) => {
    const incarnation = incarnationOf(c);
    return incarnation ? [{ ...incarnation, id: c.id }] : [];
  });
}

export async function reconcileBound(ctx: ReconcileContext, deps: Deps): Promise<ReconcileResult> {
  const view = deps.snapshot.take(ctx.key);
  try {
    return await reconcileWith(ctx, deps, view);
  } finally {
    deps.snapshot.reconciled(ctx.key);
  }
}

async function reconcileWith({ key, log }: ReconcileContext, deps: Deps, view: ReturnType<ResyncSnapshot['take']>): Promise<ReconcileResult> {
  const { containerd, client } = deps;
  const workload = deps.workloads.get(key);
  const found = view?.found ?? (await incarnations(deps, key));
  if (!workload) {
    // Deleted, or rebound elsewhere while we could not see it: never run it here again.
    for (const c of found) await removeIncarnation(containerd, c.id, c.graceSeconds);
    return {};
  }
  const grace = workload.spec.terminationGracePeriodSeconds ?? 30;
  if (workload.metadata.deletionTimestamp) {
    for (const c of found) await removeIncarnation(containerd, c.id, grace);
    await removeFinalizer(client, workloadType, workload, agentFinalizer);
    log.info('workload deleted: containers removed', { containers: found.length });
    return {};
  }
  const attempt = workload.status?.attempt ?? 1;
  const uid = workload.metadata.uid ?? '';
  for (const stale of found.filter((c) => c.uid !== uid || c.attempt !== attempt)) await removeIncarnation(containerd, stale.id, grace);
  const current = found.filter((c) => c.uid === uid && c.attempt === attempt).sort((a, b) => b.restart - a.restart)[0];
  if (current) return observe(workload, current, deps, log, view?.task(current.id));
  return start(workload, deps, log);
}

async function observe(workload: Workload, current: Found, deps: Deps, log: Logger, listed: TaskInfo | undefined): Promise<ReconcileResult> {
  const task =
    listed ??
    (await deps.containerd.tasks.get(current.id).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    }));
  if (task?.status === 'running' || task?.status === 'paused') {
    await writeStatus(deps, workload, running(workload, current.id, workload.status?.imageID, workload.status?.startedAt ?? kubeTime()));
    return {};
  }
  if (task?.status !== 'stopped') {
    // Created but never started (we crashed in between), or its task is gone: start this incarnation afresh.
    await removeIncarnation(deps.containerd, current.id, 0);
    return start(workload, deps, log);
  }
  return recordExit(workload, current, { exitStatus: task.exitStatus, ...(task.exitedAt ? { exitedAt: task.exitedAt } : {}) }, deps, log);
}

/** Writes the exit into status once (the status remembers which incarnation it recorded), then removes the container. */
async function recordExit(workload: Workload, current: Found, exit: TaskExit, deps: Deps, log: Logger): Promise<ReconcileResult> {
  const recorded = (workload.status?.restartCount ?? 0) > current.restart || (isTerminal(workload) && workload.status?.containerID === current.id);
  let result: ReconcileResult = {};
  if (!recorded) {
    const termination = {
      exitCode: exit.exitStatus,
      reason: exit.exitStatus === 0 ? 'Completed' : exit.signal ? `Signaled${exit.signal}` : 'Error',
      startedAt: workload.status?.startedAt,
      finishedAt: kubeTime(exit.exitedAt ?? new Date()),
    };
    result = await terminated(workload, current.id, termination, deps);
    log.info('container exited', { exitCode: exit.exitStatus, restartCount: workload.status?.restartCount ?? 0 });
  }
  await removeIncarnation(deps.containerd, current.id, 0);
  return result;
}

interface Termination {
  exitCode: number;
  reason: string;
  message?: string;
  startedAt?: string | undefined;
  finishedAt: string;
}

/** Applies restartPolicy to a finished incarnation: a terminal phase, or CrashLoopBackOff before the next one. */
async function terminated(workload: Workload, containerID: string, termination: Termination, deps: Deps): Promise<ReconcileResult> {
  const policy = workload.spec.restartPolicy ?? 'Always';
  const restart = policy === 'Always' || (policy === 'OnFailure' && termination.exitCode !== 0);
  const generation = workload.metadata.generation ?? 0;
  const lastTermination = Object.fromEntries(Object.entries(termination).filter(([, v]) => v !== undefined)) as WorkloadStatus['lastTermination'];
  if (!restart) {
    const succeeded = termination.exitCode === 0;
    const message = succeeded ? 'The container exited 0.' : `The container exited ${termination.exitCode}${termination.message ? `: ${termination.message}` : '.'}`;
    await writeStatus(deps, workload, {
      phase: succeeded ? 'Succeeded' : 'Failed',
      reason: succeeded ? 'Completed' : termination.reason,
      message,
      containerID,
      imageID: workload.status?.imageID,
      startedAt: termination.startedAt,
      finishedAt: termination.finishedAt,
      exitCode: termination.exitCode,
      restartCount: workload.status?.restartCount ?? 0,
      lastTermination,
      conditions: [
        { type: 'Ready', status: 'False', reason: succeeded ? 'Completed' : termination.reason, message, observedGeneration: generation },
        { type: 'Completed', status: 'True', reason: succeeded ? 'Succeeded' : 'Failed', message, observedGeneration: generation },
      ],
    });
    return {};
  }
  const restartCount = (workload.status?.restartCount ?? 0) + 1;
  const delay = crashLoopDelayMs(restartCount);
  const message = `Back-off ${Math.round(delay / 1000)}s restarting the container (exit ${termination.exitCode}${termination.message ? `: ${termination.message}` : ''}).`;
  await writeStatus(deps, workload, {
    phase: 'Running',
    reason: 'CrashLoopBackOff',
    message,
    containerID,
    imageID: workload.status?.imageID,
    exitCode: termination.exitCode,
    restartCount,
    lastTermination,
    conditions: [{ type: 'Ready', status: 'False', reason: 'CrashLoopBackOff', message, observedGeneration: generation }],
  });
  return { requeueAfterMs: delay };
}

async function start(workload: Workload, deps: Deps, log: Logger): Promise<ReconcileResult> {
  if (isTerminal(workload)) return {};
  const key = `${workload.metadata.namespace}/${workload.metadata.name}`;
  const restart = workload.status?.restartCount ?? 0;
  const finishedAt = workload.status?.lastTermination?.finishedAt;
  if (restart > 0 && finishedAt) {
    const wait = crashLoopDelayMs(restart) - (Date.now() - Date.parse(finishedAt));
    if (wait > 0) return { requeueAfterMs: wait };
  }
  const withFinalizer = await addFinalizer(deps.client, workloadType, workload, agentFinalizer);
  const generation = withFinalizer.metadata.generation ?? 0;
  let image: string;
  try {
    image = (await ensureImage(deps.containerd, withFinalizer)).name;
    deps.pullFailures.delete(key);
  } catch (err) {
    const failures = (deps.pullFailures.get(key) ?? 0) + 1;
    deps.pullFailures.set(key, failures);
    const message = `Failed to pull image ${workload.spec.image}: ${err instanceof Error ? err.message : String(err)}`;
    const reason = failures > 1 ? 'ImagePullBackOff' : 'ErrImagePull';
    await writeStatus(deps, withFinalizer, {
      phase: 'Scheduled',
      reason,
      message,
      restartCount: restart,
      lastTermination: workload.status?.lastTermination,
      conditions: [
        { type: 'Ready', status: 'False', reason, message, observedGeneration: generation },
        { type: 'ImagePulled', status: 'False', reason: 'ErrImagePull', message, observedGeneration: generation },
      ],
    });
    log.warn('image pull failed', { err, failures });
    return { requeueAfterMs: crashLoopDelayMs(failures) };
  }
  const attempt = workload.status?.attempt ?? 1;
  const ref = { namespace: workload.metadata.namespace ?? '', name: workload.metadata.name ?? '', uid: workload.metadata.uid ?? '' };
  try {
    const started = await startIncarnation(deps.containerd, image, { workload: withFinalizer, node: deps.node, attempt, restart, log: logFile(deps.stateDir, ref, attempt, restart), cgroup: await deps.cgroup, ...(deps.runcRoot ? { runcRoot: deps.runcRoot } : {}) });
    await writeStatus(deps, withFinalizer, running(withFinalizer, started.id, started.imageDigest, kubeTime()));
    log.info('container started', { container: started.id });
    return {};
  } catch (err) {
    if (!(err instanceof StartError)) throw err;
    log.warn('container could not start', { err });
    const now = kubeTime();
    return terminated(withFinalizer, '', { exitCode: 128, reason: 'StartError', message: err.message, startedAt: now, finishedAt: now }, deps);
  }
}

function running(workload: Workload, containerID: string, imageID: string | undefined, startedAt: string): AgentStatus {
  const generation = workload.metadata.generation ?? 0;
  return {
    phase: 'Running',
    reason: 'Started',
    message: `Running in container ${containerID}.`,
    containerID,
    imageID,
    startedAt,
    restartCount: workload.status?.restartCount ?? 0,
    lastTermination: workload.status?.lastTermination,
    conditions: [
      { type: 'Ready', status: 'True', reason: 'Running', message: 'The container is running.', observedGeneration: generation },
      { type: 'ImagePulled', status: 'True', reason: 'Present', message: `Image ${workload.spec.image} is present.`, observedGeneration: generation },
    ],
  };
}

/** Applies the agent's part of the status (its own field manager); conditions keep their transition times. */
async function writeStatus(deps: Deps, workload: Workload, status: AgentStatus): Promise<void> {
  const clean = Object.fromEntries(Object.entries(status).filter(([, v]) => v !== undefined)) as WorkloadStatus;
  const conditions = ownedConditions(workload.status?.conditions, status.conditions ?? []);
  await applyStatus<WorkloadStatus, Workload>(deps.client, workloadType, workload, { ...clean, observedGeneration: workload.metadata.generation ?? 0, conditions }, agentFieldManager(deps.node));
}

/** Task exits arrive as containerd events; after any gap in the stream everything is reconciled again. */
async function watchExits(deps: Deps, controller: Controller, signal: AbortSignal): Promise<void> {
  const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
  while (!signal.aborted) {
    const stream = deps.containerd.events.subscribe([and(topicEquals('/tasks/exit'), namespaceEquals(deps.containerd.namespace))]);
    const cancel = (): void => stream.cancel();
    signal.addEventListener('abort', cancel, { once: true });
    await enqueueEverything(deps, controller).catch(() => {});
    try {
      for await (const envelope of stream) {
        backoff.reset();
        if (envelope.event.type !== 'TaskExit') continue;
        deps.snapshot.exited();
        const container = await deps.containerd.containers.get(envelope.event.containerId).catch(() => undefined);
        const incarnation = container && incarnationOf(container);
        if (incarnation) controller.enqueue(incarnation.key);
      }
    } catch (err) {
      if (!signal.aborted) deps.logger.warn('containerd event stream failed; resubscribing', { err });
    } finally {
      signal.removeEventListener('abort', cancel);
    }
    await sleep(backoff.next(), signal);
  }
}

/** A periodic level check: every bound Workload and every container of ours (orphans included). */
async function resync(deps: Deps, controller: Controller, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    await enqueueEverything(deps, controller).catch((err: unknown) => deps.logger.warn('resync failed', { err }));
    await sleep(60_000, signal);
  }
}

async function enqueueEverything(deps: Deps, controller: Controller): Promise<void> {
  const askedAt = performance.now();
  const exits = deps.snapshot.exits;
  const [found, tasks] = await Promise.all([incarnations(deps), deps.containerd.tasks.list()]);
  const keys = deps.workloads.list().map((w) => `${w.metadata.namespace}/${w.metadata.name}`);
  deps.snapshot.set(askedAt, exits, found, tasks, keys);
  for (const key of keys) controller.enqueue(key);
  for (const c of found) controller.enqueue(c.key);
}
