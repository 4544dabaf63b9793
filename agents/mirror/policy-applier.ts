// Keeps containerd's certs.d in line with the mirror configuration in effect: hosts.toml of every mirrored
// registry points first at our mirror, and files of registries that left are restored to their original bytes.
// Level-based (compares what HostsTomlWriter manages with what is wanted), idempotent, retried with backoff,
// and re-checked periodically so a file someone rewrote or deleted is repaired.
import { Counter, Gauge, type Registry } from 'prom-client';
import { Backoff, sleep } from '../../operator/src/runtime/backoff.ts';
import type { Logger } from '../../operator/src/runtime/log.ts';
import { HostsTomlWriter } from './hosts-toml.ts';
import type { EffectiveMirrorConfig } from './policy.ts';

export interface HostsTomlApplierOptions {
  writer: HostsTomlWriter;
  /** The mirror's URL as containerd on this node reaches it; default `http://127.0.0.1:<mirrorPort>`. */
  mirrorUrl?: (config: EffectiveMirrorConfig) => string;
  logger: Logger;
  metrics: Registry;
  /** How often the files are re-checked without a change; default 60 s. */
  resyncMs?: number;
}

export interface ApplierState {
  /** False until the first desired configuration arrived and was applied without error. */
  synced: boolean;
  /** The configuration the files match (undefined: none selected, every file restored). */
  applied: EffectiveMirrorConfig | undefined;
  /** The mirror URL the files point at. */
  mirrorUrl: string | undefined;
  /** Why the last attempt failed, if it did. */
  error: string | undefined;
}

export const defaultMirrorUrl = (config: EffectiveMirrorConfig): string => `http://127.0.0.1:${config.mirrorPort}`;

export class HostsTomlApplier {
  readonly #writer: HostsTomlWriter;
  readonly #mirrorUrl: (config: EffectiveMirrorConfig) => string;
  readonly #log: Logger;
  readonly #resyncMs: number;
  readonly #runs: Counter<'result'>;
  readonly #registries: Gauge;
  readonly #listeners: (() => void)[] = [];
  #desired: { config: EffectiveMirrorConfig | undefined } | undefined;
  #version = 0;
  #wake: (() => void) | undefined;
  #state: ApplierState = { synced: false, applied: undefined, mirrorUrl: undefined, error: undefined };

  constructor(options: HostsTomlApplierOptions) {
    this.#writer = options.writer;
    this.#mirrorUrl = options.mirrorUrl ?? defaultMirrorUrl;
    this.#log = options.logger;
    this.#resyncMs = options.resyncMs ?? 60_000;
    this.#runs = new Counter({
      name: 'shoal_mirror_hosts_toml_syncs_total',
      help: 'hosts.toml reconciliations of the mirrored registries, by result',
      labelNames: ['result'],
      registers: [options.metrics],
    });
    this.#registries = new Gauge({ name: 'shoal_mirror_hosts_toml_registries', help: 'Registries whose hosts.toml points at the mirror', registers: [options.metrics] });
  }

  /** Sets the wanted configuration (undefined: no policy selects this node). Nothing is touched before the first call. */
  update(config: EffectiveMirrorConfig | undefined): void {
    this.#desired = { config };
    this.#version++;
    this.#wake?.();
  }

  state(): ApplierState {
    return this.#state;
  }

  /** Called after every attempt whose outcome differs from the previous one. */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
    while (!signal.aborted) {
      const desired = this.#desired;
      const version = this.#version;
      if (desired) {
        try {
          await this.#apply(desired.config);
          this.#runs.inc({ result: 'success' });
          backoff.reset();
          this.#setState({ synced: true, applied: desired.config, mirrorUrl: desired.config ? this.#mirrorUrl(desired.config) : undefined, error: undefined });
        } catch (err) {
          this.#runs.inc({ result: 'error' });
          const error = err instanceof Error ? err.message : String(err);
          if (error !== this.#state.error) this.#log.warn('hosts.toml sync failed; retrying', { err });
          this.#setState({ ...this.#state, synced: false, error });
          await this.#sleepUnlessChanged(backoff.next(), version, signal);
          continue;
        }
      }
      await this.#sleepUnlessChanged(desired ? this.#resyncMs : 2_147_483_647, version, signal);
    }
  }

  async #apply(config: EffectiveMirrorConfig | undefined): Promise<void> {
    const wanted = new Map((config?.registries ?? []).map((r) => [r.host, r]));
    const failures: string[] = [];
    const url = config ? this.#mirrorUrl(config) : '';
    for (const registry of wanted.values()) {
      try {
        await this.#writer.install(registry.host, { mirrors: [url], resolveTags: registry.resolveTags });
      } catch (err) {
        failures.push(`${registry.host}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    for (const registry of await this.#writer.managed()) {
      if (wanted.has(registry)) continue;
      try {
        await this.#writer.restore(registry);
      } catch (err) {
        failures.push(`${registry} (restore): ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.#registries.set(wanted.size - failures.filter((f) => !f.includes(' (restore): ')).length);
    if (failures.length > 0) throw new Error(failures.join('; '));
  }

  #setState(next: ApplierState): void {
    const changed = next.synced !== this.#state.synced || next.error !== this.#state.error || next.applied !== this.#state.applied || next.mirrorUrl !== this.#state.mirrorUrl;
    this.#state = next;
    if (changed) for (const listener of [...this.#listeners]) listener();
  }

  async #sleepUnlessChanged(ms: number, version: number, signal: AbortSignal): Promise<void> {
    if (version !== this.#version) return;
    await Promise.race([sleep(ms, signal), new Promise<void>((resolve) => (this.#wake = resolve))]);
    this.#wake = undefined;
  }
}

/** Uninstall: restores every hosts.toml the agent changed under `certsDir` (byte for byte where nothing else edited it). */
export async function restoreAllHostsToml(options: { certsDir: string; logger: Logger }): Promise<{ restored: string[]; failed: { registry: string; error: string }[] }> {
  const writer = new HostsTomlWriter({ certsDir: options.certsDir, logger: options.logger });
  const restored: string[] = [];
  const failed: { registry: string; error: string }[] = [];
  for (const registry of await writer.managed()) {
    try {
      await writer.restore(registry);
      restored.push(registry);
    } catch (err) {
      failed.push({ registry, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return { restored, failed };
}
