// Which MirrorPolicy configures which registry on a node: shared by the operator's controller (conflicts,
// Accepted) and each agent (the hosts.toml it writes), so both sides apply the same rule.
import type { MirrorPolicy } from '../api/generated/types.ts';
import { matchesLabelSelector } from '../runtime/labels.ts';

// Typed as Date, but objects decoded from JSON carry the RFC 3339 string: accept both.
function createdAt(policy: MirrorPolicy): number {
  const t: unknown = policy.metadata.creationTimestamp;
  const ms = t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : Number.NaN;
  return Number.isNaN(ms) ? -Infinity : ms;
}

// The older policy wins a conflict; the name breaks ties so every replica and every agent agrees.
export function olderThan(a: MirrorPolicy, b: MirrorPolicy): boolean {
  const ta = createdAt(a);
  const tb = createdAt(b);
  return ta === tb ? (a.metadata.name ?? '') < (b.metadata.name ?? '') : ta < tb;
}

/** Policies in the order they win registries: oldest first. */
export function byAge(policies: readonly MirrorPolicy[]): MirrorPolicy[] {
  return [...policies].sort((a, b) => (olderThan(a, b) ? -1 : olderThan(b, a) ? 1 : 0));
}

/** A policy being deleted no longer configures anything. */
export function isLive(policy: MirrorPolicy): boolean {
  return !policy.metadata.deletionTimestamp;
}

export function selectsNode(policy: MirrorPolicy, labels: Record<string, string> | undefined): boolean {
  return matchesLabelSelector(policy.spec.nodeSelector, labels);
}

/** For a node with `labels`: each registry host → the oldest live policy selecting the node that lists it. */
export function registryOwners(policies: readonly MirrorPolicy[], labels: Record<string, string> | undefined): Map<string, MirrorPolicy> {
  const owners = new Map<string, MirrorPolicy>();
  for (const policy of byAge(policies.filter((p) => isLive(p) && selectsNode(p, labels)))) {
    for (const { host } of policy.spec.registries ?? []) if (!owners.has(host)) owners.set(host, policy);
  }
  return owners;
}

/** The registry part of a fully qualified reference ("localhost:5000/a/b:1" → "localhost:5000"). */
export function registryOf(reference: string): string {
  const slash = reference.indexOf('/');
  return slash < 0 ? '' : reference.slice(0, slash);
}
