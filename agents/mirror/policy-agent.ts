// The MirrorPolicy side of the agent in one call: the policy in effect → hosts.toml → preheat, plus the
// mirror's Node status (MirrorReady, peer, mirror). agents/main.ts starts it and hands `status` to the status
// reporter; the server, resolver and advertiser follow `policy.onChange`.
import type { Registry } from 'prom-client';
import type { Logger } from '../../operator/src/runtime/log.ts';
import type { Manager } from '../../operator/src/runtime/manager.ts';
import type { ContainerdClient } from '../runtime/containerd/client.ts';
import { HostsTomlWriter } from './hosts-toml.ts';
import { MirrorNodeStatus, type MirrorRuntimeProvider } from './mirror-status.ts';
import { HostsTomlApplier } from './policy-applier.ts';
import { MirrorPolicyWatch, type EffectiveMirrorConfig } from './policy.ts';
import { Preheater } from './preheat.ts';

export interface MirrorPolicyAgentOptions {
  manager: Manager;
  /** Our Node's name. */
  node: string;
  containerd: ContainerdClient;
  /** containerd's registry config_path, where hosts.toml files are written (--containerd-config-path). */
  certsDir: string;
  /** The server's live facts (serving?, endpoint, peer, advertised counts, last success). */
  runtime: MirrorRuntimeProvider;
  logger: Logger;
  metrics: Registry;
  /** The mirror URL written into hosts.toml; default `http://127.0.0.1:<policy mirrorPort>`. */
  mirrorUrl?: (config: EffectiveMirrorConfig) => string;
  /** Tuning for tests; defaults suit production. */
  preheatRetry?: { initialMs: number; maxMs: number };
  configCheckIntervalMs?: number;
}

export interface MirrorPolicyAgent {
  policy: MirrorPolicyWatch;
  hostsToml: HostsTomlApplier;
  preheat: Preheater;
  /** Pass as `mirror` to runStatusReporter. */
  status: MirrorNodeStatus;
  run(signal: AbortSignal): Promise<void>;
}

export function startMirrorPolicyAgent(options: MirrorPolicyAgentOptions): MirrorPolicyAgent {
  const logger = options.logger;
  const policy = new MirrorPolicyWatch({ manager: options.manager, node: options.node, logger: logger.child({ part: 'policy' }) });
  const hostsToml = new HostsTomlApplier({
    writer: new HostsTomlWriter({ certsDir: options.certsDir, logger: logger.child({ part: 'hosts-toml' }) }),
    logger: logger.child({ part: 'hosts-toml' }),
    metrics: options.metrics,
    ...(options.mirrorUrl ? { mirrorUrl: options.mirrorUrl } : {}),
  });
  const preheat = new Preheater({ containerd: options.containerd, logger: logger.child({ part: 'preheat' }), metrics: options.metrics, ...(options.preheatRetry ? { retry: options.preheatRetry } : {}) });
  const status = new MirrorNodeStatus({
    containerd: options.containerd,
    certsDir: options.certsDir,
    policy,
    hostsToml,
    preheat,
    runtime: options.runtime,
    logger: logger.child({ part: 'containerd-config' }),
    metrics: options.metrics,
    ...(options.configCheckIntervalMs !== undefined ? { configCheckIntervalMs: options.configCheckIntervalMs } : {}),
  });

  policy.onChange((config) => {
    hostsToml.update(config);
    status.changed();
  });
  // Preheat pulls only what hosts.toml already routes through the mirror.
  hostsToml.onChange(() => {
    preheat.update((hostsToml.state().applied?.preheat ?? []).map((p) => p.image));
    status.changed();
  });
  preheat.onChange(() => status.changed());

  return {
    policy,
    hostsToml,
    preheat,
    status,
    async run(signal) {
      const checks = status.run(signal); // the config check must not wait for the API server
      await policy.waitForSync(signal); // reports the first configuration to the listeners above
      await Promise.all([checks, hostsToml.run(signal), preheat.run(signal)]);
    },
  };
}
