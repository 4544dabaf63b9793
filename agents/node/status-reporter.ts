// Keeps our Node's status true: checks containerd on every heartbeat and writes status only when it changed.
import { nodeType, type Node } from '../../operator/src/api/generated/types.ts';
import { sleep } from '../../operator/src/runtime/backoff.ts';
import type { KubeClient } from '../../operator/src/runtime/kube.ts';
import type { Logger } from '../../operator/src/runtime/log.ts';
import type { Manager } from '../../operator/src/runtime/manager.ts';
import type { ContainerdClient } from '../runtime/containerd/client.ts';
import { reportNodeStatus, type AgentHealth, type NodeIdentity } from './registration.ts';

export interface StatusReporterOptions {
  client: KubeClient;
  manager: Manager;
  identity: NodeIdentity;
  containerd: ContainerdClient;
  logger: Logger;
}

export interface StatusReporter {
  run(signal: AbortSignal): Promise<void>;
  /** Asks for a check now (after a heartbeat, or when the runtime saw containerd fail). */
  poke(): void;
  health(): AgentHealth;
}

export function runStatusReporter({ client, manager, identity, containerd, logger }: StatusReporterOptions): StatusReporter {
  const nodes = manager.informers.for<Node>(nodeType, { fieldSelector: `metadata.name=${identity.name}` });
  let health: AgentHealth = { containerdProblem: 'not checked yet' };
  let wake: (() => void) | undefined;
  nodes.addHandler({ update: () => wake?.(), delete: () => wake?.() });

  async function check(): Promise<void> {
    try {
      const { version } = await containerd.version({ timeoutMs: 5_000 });
      health = { containerdVersion: version };
    } catch (err) {
      health = { containerdVersion: health.containerdVersion, containerdProblem: `containerd does not answer: ${err instanceof Error ? err.message : String(err)}` };
    }
    const node = nodes.get(identity.name);
    if (!node) return;
    const written = await reportNodeStatus(client, node, identity, health);
    if (written) logger.info('node status updated', { containerd: health.containerdProblem ?? 'ready' });
  }

  return {
    health: () => health,
    poke: () => wake?.(),
    async run(signal) {
      await nodes.waitForSync(signal);
      while (!signal.aborted) {
        await check().catch((err: unknown) => logger.warn('node status check failed', { err }));
        await Promise.race([sleep(30_000, signal), new Promise<void>((resolve) => (wake = resolve))]);
      }
    },
  };
}
