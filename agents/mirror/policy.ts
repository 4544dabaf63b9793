// The mirror configuration in effect on this node: computed from the MirrorPolicies that select our Node (by
// its labels), with the operator's rule for overlaps (operator/src/mirror/selection.ts: the oldest policy
// wins a registry), and pushed to subscribers whenever it changes.
import { isDeepStrictEqual } from 'node:util';
import { mirrorPolicyType, nodeType, type MirrorPolicy, type Node } from '../../operator/src/api/generated/types.ts';
import { byAge, isLive, registryOf, registryOwners, selectsNode } from '../../operator/src/mirror/selection.ts';
import { parseDuration } from '../../operator/src/runtime/duration.ts';
import type { Informer } from '../../operator/src/runtime/informer.ts';
import type { Logger } from '../../operator/src/runtime/log.ts';
import type { Manager } from '../../operator/src/runtime/manager.ts';

/** The CRD's defaults, applied again here in case a policy was stored before a default existed. */
export const policyDefaults = { resolveTimeoutMs: 20, resolveRetries: 3, resolveTags: true, resolveLatest: false, mirrorPort: 5050 } as const;

export interface EffectiveRegistry {
  host: string;
  /** Name of the MirrorPolicy that configures this registry on this node. */
  policy: string;
  /** That policy's tags.resolve: whether hosts.toml lets the mirror resolve tags (capability `resolve`). */
  resolveTags: boolean;
  resolveLatest: boolean;
}

export interface PreheatImage {
  image: string;
  /** The oldest selecting policy that lists it. */
  policy: string;
}

export interface EffectiveMirrorConfig {
  /** Sorted by host. */
  registries: EffectiveRegistry[];
  /** Server-wide settings come from the primary policy: the oldest one selecting this node. */
  primaryPolicy: string;
  resolveTags: boolean;
  resolveLatest: boolean;
  resolveTimeoutMs: number;
  resolveRetries: number;
  mirrorPort: number;
  /** Every selecting policy's preheat images whose registry this node mirrors, deduplicated and sorted. */
  preheat: PreheatImage[];
}

function resolveTimeoutMs(policy: MirrorPolicy, log?: Logger): number {
  const text = policy.spec.resolveTimeout;
  if (text === undefined) return policyDefaults.resolveTimeoutMs;
  try {
    return parseDuration(text);
  } catch (err) {
    log?.warn('bad resolveTimeout, using the default', { policy: policy.metadata.name, resolveTimeout: text, err });
    return policyDefaults.resolveTimeoutMs;
  }
}

const tagSettings = (policy: MirrorPolicy): { resolveTags: boolean; resolveLatest: boolean } => {
  const resolveTags = policy.spec.tags?.resolve ?? policyDefaults.resolveTags;
  // The CRD forbids resolveLatest without resolve; enforce it anyway, since latest is a tag.
  return { resolveTags, resolveLatest: resolveTags && (policy.spec.tags?.resolveLatest ?? policyDefaults.resolveLatest) };
};

/** The configuration for a node with `labels`, or undefined when no live policy selects it. */
export function effectiveMirrorConfig(policies: readonly MirrorPolicy[], labels: Record<string, string> | undefined, log?: Logger): EffectiveMirrorConfig | undefined {
  const selecting = byAge(policies.filter((p) => isLive(p) && selectsNode(p, labels)));
  const primary = selecting[0];
  if (!primary) return undefined;
  const owners = registryOwners(selecting, labels);
  const registries = [...owners.entries()]
    .map(([host, policy]) => ({ host, policy: policy.metadata.name ?? '', ...tagSettings(policy) }))
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  const preheat = new Map<string, PreheatImage>();
  for (const policy of selecting) {
    for (const image of policy.spec.preheat ?? []) {
      if (owners.has(registryOf(image)) && !preheat.has(image)) preheat.set(image, { image, policy: policy.metadata.name ?? '' });
    }
  }
  return {
    registries,
    primaryPolicy: primary.metadata.name ?? '',
    ...tagSettings(primary),
    resolveTimeoutMs: resolveTimeoutMs(primary, log),
    resolveRetries: primary.spec.resolveRetries ?? policyDefaults.resolveRetries,
    mirrorPort: primary.spec.mirrorPort ?? policyDefaults.mirrorPort,
    preheat: [...preheat.values()].sort((a, b) => (a.image < b.image ? -1 : a.image > b.image ? 1 : 0)),
  };
}

export interface MirrorPolicyWatchOptions {
  manager: Manager;
  /** Our Node's name: its labels decide which policies select us. */
  node: string;
  logger: Logger;
}

export type MirrorConfigListener = (config: EffectiveMirrorConfig | undefined) => void;

/**
 * Watches MirrorPolicies and our Node (shared informers of `manager`; the Node one is the status reporter's)
 * and keeps `current()` up to date. Listeners run synchronously on each change and must not throw.
 */
export class MirrorPolicyWatch {
  readonly #policies: Informer<MirrorPolicy>;
  readonly #nodes: Informer<Node>;
  readonly #node: string;
  readonly #log: Logger;
  readonly #listeners: MirrorConfigListener[] = [];
  #current: EffectiveMirrorConfig | undefined;
  #synced = false;

  constructor({ manager, node, logger }: MirrorPolicyWatchOptions) {
    this.#node = node;
    this.#log = logger;
    this.#policies = manager.informers.for<MirrorPolicy>(mirrorPolicyType);
    this.#nodes = manager.informers.for<Node>(nodeType, { fieldSelector: `metadata.name=${node}` });
    const recompute = { add: () => this.#recompute(), update: () => this.#recompute(), delete: () => this.#recompute() };
    this.#policies.addHandler(recompute);
    this.#nodes.addHandler(recompute);
  }

  /** The configuration in effect; undefined when no policy selects this node (or before the caches synced). */
  current(): EffectiveMirrorConfig | undefined {
    return this.#current;
  }

  /** True once both caches have synced, so `current() === undefined` really means "no policy". */
  get synced(): boolean {
    return this.#synced;
  }

  /** Subscribes to changes; returns the unsubscribe function. The listener is not called for the current value. */
  onChange(listener: MirrorConfigListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /** Resolves once both informers have synced (false when `signal` aborted first), then reports the first value. */
  async waitForSync(signal: AbortSignal): Promise<boolean> {
    const synced = (await this.#policies.waitForSync(signal)) && (await this.#nodes.waitForSync(signal));
    if (synced && !this.#synced) {
      this.#synced = true;
      this.#recompute(true);
    }
    return synced;
  }

  #recompute(force = false): void {
    if (!this.#synced && !force) return; // a half-filled cache would briefly select nothing and restore every hosts.toml
    const labels = this.#nodes.get(this.#node)?.metadata.labels;
    const next = this.#nodes.get(this.#node) ? effectiveMirrorConfig(this.#policies.list(), labels, this.#log) : undefined;
    if (!force && isDeepStrictEqual(next, this.#current)) return;
    this.#current = next;
    this.#log.info('mirror policy in effect', next ? { policy: next.primaryPolicy, registries: next.registries.map((r) => r.host), preheat: next.preheat.length } : { policy: null });
    for (const listener of [...this.#listeners]) listener(next);
  }
}
