// What the Node says about its mirror: the MirrorReady condition (from containerd's config, the policy in
// effect, the hosts.toml sync and the server), plus status.peer and status.mirror from the providers the
// agent plugs in. Also runs the periodic containerd config check, so a misconfiguration shows within seconds.
import { isDeepStrictEqual } from 'node:util';
import { Counter, type Registry } from 'prom-client';
import { kubeTime } from '../../operator/src/runtime/conditions.ts';
import { sleep } from '../../operator/src/runtime/backoff.ts';
import type { Logger } from '../../operator/src/runtime/log.ts';
import type { NodeMirrorReport, MirrorReadyInput } from '../node/registration.ts';
import type { MirrorStatusProvider } from '../node/status-reporter.ts';
import type { ContainerdClient } from '../runtime/containerd/client.ts';
import { checkContainerdConfig, type ContainerdConfigVerdict } from './containerd-config.ts';
import type { ApplierState } from './policy-applier.ts';
import type { EffectiveMirrorConfig } from './policy.ts';
import type { PreheatProgress } from './preheat.ts';

/** Live facts only the mirror server, the DHT and the advertiser know; every member is optional but `servingProblem`. */
export interface MirrorRuntimeProvider {
  /** undefined while the mirror serves; otherwise why not (e.g. "not listening on :5050"). */
  servingProblem(): string | undefined;
  /** Where other agents fetch from this node (the peer listener), for status.mirror.endpoint. */
  endpoint?(): string | undefined;
  peer?(): { id: string; addresses: string[] } | undefined;
  advertised?(): { keys: number; images: number } | undefined;
  lastSuccessTime?(): Date | undefined;
}

export interface MirrorReadyFacts {
  /** undefined until the first check answered. */
  containerdConfig: ContainerdConfigVerdict | undefined;
  /** False until the policy caches synced: "no policy" is only known after that. */
  policySynced: boolean;
  policy: EffectiveMirrorConfig | undefined;
  hostsToml: ApplierState;
  servingProblem: string | undefined;
}

/**
 * MirrorReady, most fundamental problem first. A containerd misconfiguration is reported even when no policy
 * selects the node: it has to be fixed on the host before any policy can work there, and the admin should see
 * it before rolling a policy out. Without a policy the condition is False/NoPolicy rather than absent, so an
 * absent condition keeps meaning "an agent that does not know about the mirror".
 */
export function mirrorReadyCondition(facts: MirrorReadyFacts): MirrorReadyInput {
  const { containerdConfig: config, hostsToml } = facts;
  if (!config) return { status: 'Unknown', reason: 'Checking', message: "The agent has not checked containerd's configuration yet." };
  if (!config.ok) return { status: 'False', reason: config.reason, message: config.message };
  if (!facts.policySynced) return { status: 'Unknown', reason: 'Checking', message: 'Waiting for the MirrorPolicy cache.' };
  if (!facts.policy) return { status: 'False', reason: 'NoPolicy', message: 'No MirrorPolicy selects this node.' };
  if (hostsToml.error) return { status: 'False', reason: 'HostsTomlFailed', message: `Cannot write hosts.toml: ${hostsToml.error}`.slice(0, 4096) };
  if (!hostsToml.synced || !isDeepStrictEqual(hostsToml.applied, facts.policy)) {
    return { status: 'Unknown', reason: 'Configuring', message: 'Writing hosts.toml for the mirrored registries.' };
  }
  if (facts.servingProblem) return { status: 'False', reason: 'MirrorNotServing', message: facts.servingProblem };
  const hosts = facts.policy.registries.map((r) => r.host).join(', ');
  return { status: 'True', reason: 'MirrorServing', message: `MirrorPolicy ${facts.policy.primaryPolicy}: containerd pulls ${hosts} through the mirror at ${hostsToml.mirrorUrl ?? ''}.` };
}

export interface MirrorNodeStatusOptions {
  containerd: ContainerdClient;
  /** The certs.d the agent writes hosts.toml into (--containerd-config-path). */
  certsDir: string;
  policy: { current(): EffectiveMirrorConfig | undefined; readonly synced: boolean };
  hostsToml: { state(): ApplierState };
  preheat?: { progress(): PreheatProgress[] };
  runtime: MirrorRuntimeProvider;
  logger: Logger;
  metrics: Registry;
  /** How often containerd's config is asked again; default 30 s (it only changes with a containerd restart). */
  configCheckIntervalMs?: number;
}

/** Implements the status reporter's MirrorStatusProvider; call `changed()` when a plugged-in fact changed. */
export class MirrorNodeStatus implements MirrorStatusProvider {
  readonly #options: MirrorNodeStatusOptions;
  readonly #checks: Counter<'result'>;
  readonly #listeners: (() => void)[] = [];
  #config: ContainerdConfigVerdict | undefined;
  #wake: (() => void) | undefined;
  #recheckPending = false;

  constructor(options: MirrorNodeStatusOptions) {
    this.#options = options;
    this.#checks = new Counter({
      name: 'shoal_mirror_containerd_config_checks_total',
      help: "Checks of containerd's CRI config (config_path, discard_unpacked_layers), by result",
      labelNames: ['result'],
      registers: [options.metrics],
    });
  }

  containerdConfig(): ContainerdConfigVerdict | undefined {
    return this.#config;
  }

  report(): NodeMirrorReport {
    const { runtime, policy, hostsToml, preheat } = this.#options;
    const ready = mirrorReadyCondition({
      containerdConfig: this.#config,
      policySynced: policy.synced,
      policy: policy.current(),
      hostsToml: hostsToml.state(),
      servingProblem: runtime.servingProblem(),
    });
    const peer = runtime.peer?.();
    const advertised = runtime.advertised?.();
    const lastSuccess = runtime.lastSuccessTime?.();
    const endpoint = runtime.endpoint?.();
    const progress = preheat?.progress() ?? [];
    return {
      ready,
      ...(peer ? { peer: { id: peer.id, addresses: [...peer.addresses].sort().slice(0, 16) } } : {}),
      mirror: {
        ...(endpoint ? { endpoint } : {}),
        ...(advertised ? { advertisedKeys: advertised.keys, advertisedImages: advertised.images } : {}),
        ...(lastSuccess ? { lastSuccessTime: kubeTime(lastSuccess) } : {}),
        ...(progress.length > 0 ? { preheat: progress } : {}),
      },
    };
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Tells the reporter something it reports changed (the agent calls this for its own providers). */
  changed(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /** Asks containerd again now (e.g. after the agent saw containerd restart). */
  recheck(): void {
    this.#recheckPending = true;
    this.#wake?.();
  }

  /** The config check loop: at once, then every configCheckIntervalMs. */
  async run(signal: AbortSignal): Promise<void> {
    const interval = this.#options.configCheckIntervalMs ?? 30_000;
    while (!signal.aborted) {
      this.#recheckPending = false;
      const verdict = await checkContainerdConfig(this.#options.containerd, this.#options.certsDir);
      this.#checks.inc({ result: verdict.ok ? 'ok' : verdict.reason });
      const before = this.#config;
      this.#config = verdict;
      if (!before || before.ok !== verdict.ok || before.message !== verdict.message) {
        const log = verdict.ok ? this.#options.logger.info : this.#options.logger.warn;
        log('containerd config for the mirror', verdict.ok ? { ok: true } : { ok: false, reason: verdict.reason, message: verdict.message });
        this.changed();
      }
      // A failed call (containerd restarting) is asked again sooner.
      const wait = verdict.ok || verdict.reason !== 'ContainerdConfigUnknown' ? interval : Math.min(interval, 5_000);
      if (!this.#recheckPending) await Promise.race([sleep(wait, signal), new Promise<void>((resolve) => (this.#wake = resolve))]);
      this.#wake = undefined;
    }
  }
}
