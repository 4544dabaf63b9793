// Keeps our Node's status true and writes it only when it changed. containerd's health is asked every
// healthIntervalMs (not on every heartbeat: a heartbeat poke only re-compares); host facts are cached as long;
// images and the mirror's report are pushed by their owners. Counters and times that move with traffic
// (advertised keys, last mirror success) are written at most every softIntervalMs.
import { nodeType, type Node, type NodeStatus } from '../../operator/src/api/generated/types.ts';
import { Backoff, sleep } from '../../operator/src/runtime/backoff.ts';
import { isConflict, type KubeClient } from '../../operator/src/runtime/kube.ts';
import type { Logger } from '../../operator/src/runtime/log.ts';
import type { Manager } from '../../operator/src/runtime/manager.ts';
import { statusContains } from '../../operator/src/runtime/writes.ts';
import type { ContainerdClient } from '../runtime/containerd/client.ts';
import { currentHostFacts, desiredNodeStatus, reportNodeStatus, type AgentHealth, type HostFacts, type NodeImage, type NodeIdentity, type NodeMirrorReport } from './registration.ts';

/** The mirror's part of the status (agents/mirror/mirror-status.ts implements it). */
export interface MirrorStatusProvider {
  report(): NodeMirrorReport;
  onChange(listener: () => void): void;
}

/** status.images (agents/node/image-inventory.ts implements it). */
export interface NodeImagesProvider {
  /** undefined until first listed. */
  images(): NodeImage[] | undefined;
  onChange(listener: () => void): void;
}

export interface StatusReporterOptions {
  client: KubeClient;
  manager: Manager;
  identity: NodeIdentity;
  containerd: ContainerdClient;
  logger: Logger;
  mirror?: MirrorStatusProvider;
  images?: NodeImagesProvider;
  /** How often containerd's health and the host facts are refreshed; default 30 s. */
  healthIntervalMs?: number;
  /** Minimum time between writes that only move traffic counters; default 30 s. */
  softIntervalMs?: number;
}

export interface StatusReporter {
  run(signal: AbortSignal): Promise<void>;
  /** Asks for a status comparison now (after a heartbeat); containerd is asked only when its last answer is stale. */
  poke(): void;
  /** Asks containerd now (the runtime saw it fail). */
  recheck(): void;
  health(): AgentHealth;
}

/** The status with the traffic-driven mirror fields taken from `current`, to tell a counters-only change apart. */
function withSoftFieldsOf(desired: NodeStatus, current: NodeStatus | undefined): NodeStatus {
  if (!desired.mirror) return desired;
  const { advertisedKeys, advertisedImages, lastSuccessTime, ...rest } = desired.mirror;
  void advertisedKeys;
  void advertisedImages;
  void lastSuccessTime;
  const have = current?.mirror;
  return {
    ...desired,
    mirror: {
      ...rest,
      ...(have?.advertisedKeys !== undefined ? { advertisedKeys: have.advertisedKeys } : {}),
      ...(have?.advertisedImages !== undefined ? { advertisedImages: have.advertisedImages } : {}),
      ...(have?.lastSuccessTime !== undefined ? { lastSuccessTime: have.lastSuccessTime } : {}),
    },
  };
}

export function runStatusReporter(options: StatusReporterOptions): StatusReporter {
  const { client, manager, identity, containerd, logger } = options;
  const healthIntervalMs = options.healthIntervalMs ?? 30_000;
  const softIntervalMs = options.softIntervalMs ?? 30_000;
  const nodes = manager.informers.for<Node>(nodeType, { fieldSelector: `metadata.name=${identity.name}` });
  let health: AgentHealth = { containerdProblem: 'not checked yet' };
  let host: HostFacts | undefined;
  let checkedAt = -Infinity;
  let forceCheck = true;
  let lastWriteAt = -Infinity;
  // Our last write, until the informer delivers it: comparing against the older cached copy would write again with a stale resourceVersion (409).
  let lastWrite: { before: string | undefined; after: Node } | undefined;
  const currentNode = (): Node | undefined => {
    const cached = nodes.get(identity.name);
    return cached && lastWrite && cached.metadata.resourceVersion === lastWrite.before ? lastWrite.after : cached;
  };
  let wake: (() => void) | undefined;
  // Set by pokes that arrive while a check runs, so they are not lost.
  let pending = false;
  const poke = (): void => {
    pending = true;
    wake?.();
  };
  nodes.addHandler({ update: poke, delete: poke });
  options.mirror?.onChange(poke);
  options.images?.onChange(poke);

  async function refreshHealth(): Promise<void> {
    try {
      const { version } = await containerd.version({ timeoutMs: 5_000 });
      health = { containerdVersion: version };
    } catch (err) {
      health = { containerdVersion: health.containerdVersion, containerdProblem: `containerd does not answer: ${err instanceof Error ? err.message : String(err)}` };
    }
    host = currentHostFacts();
    checkedAt = performance.now();
    forceCheck = false;
  }

  /** One pass; returns how long until the next one is due at the latest. */
  async function check(): Promise<number> {
    if (forceCheck || performance.now() - checkedAt >= healthIntervalMs) await refreshHealth();
    const node = currentNode();
    const untilHealth = Math.max(0, healthIntervalMs - (performance.now() - checkedAt));
    if (!node) return untilHealth;
    const images = options.images?.images();
    const extras = { ...(host ? { host } : {}), ...(options.mirror ? { mirror: options.mirror.report() } : {}), ...(images ? { images } : {}) };
    const desired = desiredNodeStatus(node, identity, health, extras);
    if (statusContains(node.status, desired)) return untilHealth;
    const sinceWrite = performance.now() - lastWriteAt;
    if (sinceWrite < softIntervalMs && statusContains(node.status, withSoftFieldsOf(desired, node.status))) {
      return Math.min(untilHealth, softIntervalMs - sinceWrite); // only traffic counters moved: write them later
    }
    const written = await reportNodeStatus(client, node, identity, health, extras);
    if (written) {
      lastWrite = { before: node.metadata.resourceVersion, after: written };
      lastWriteAt = performance.now();
      logger.info('node status updated', { containerd: health.containerdProblem ?? 'ready', mirror: extras.mirror?.ready.reason });
    }
    return untilHealth;
  }

  return {
    health: () => health,
    poke,
    recheck: () => {
      forceCheck = true;
      poke();
    },
    async run(signal) {
      await nodes.waitForSync(signal);
      const backoff = new Backoff({ initialMs: 500, maxMs: healthIntervalMs });
      while (!signal.aborted) {
        const next = await check().then(
          (due) => {
            backoff.reset();
            return due;
          },
          (err: unknown) => {
            // A conflict means another writer got in between: expected, and retried shortly with the fresher cache.
            (isConflict(err) ? logger.debug : logger.warn)('node status check failed', { err });
            return backoff.next();
          },
        );
        if (!pending) await Promise.race([sleep(Math.max(next, 50), signal), new Promise<void>((resolve) => (wake = resolve))]);
        wake = undefined;
        pending = false;
      }
    },
  };
}
