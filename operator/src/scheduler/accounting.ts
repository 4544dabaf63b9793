// Per-node accounted requests: the informer cache's non-terminal bound Workloads, plus decisions whose binding
// write is in flight or not yet seen come back (kube-scheduler's "assumed" pods), so parallel binds never overcommit.
import type { Workload } from '../api/generated/types.ts';
import { add, holdingNode, isTerminal, noResources, requestsOf, type Resources } from './resources.ts';

interface Placement {
  node: string;
  resources: Resources;
  group: string | undefined;
}

/** One accounted decision; `forget` with it only undoes that decision, never a later one for the same key. */
export interface Assumption extends Placement {
  readonly key: string;
  /** The version the decision was made from: the binding write carries it as its precondition. */
  readonly resourceVersion: string | undefined;
}

const groupOf = (workload: Workload): string | undefined => {
  const group = workload.spec.scheduling?.spreadGroup;
  return group ? `${workload.metadata.namespace}/${group}` : undefined;
};

export class NodeAccounting {
  readonly #observed = new Map<string, Placement>();
  readonly #assumed = new Map<string, Assumption>();
  readonly #used = new Map<string, Resources>();
  readonly #groups = new Map<string, Map<string, number>>();
  #lastAssumedAt = Number.NEGATIVE_INFINITY;

  /** Records the cached state of one Workload (undefined when deleted). */
  observe(key: string, workload: Workload | undefined): void {
    const node = workload ? holdingNode(workload) : undefined;
    const before = this.#observed.get(key);
    if (before) this.#count(before, -1);
    if (workload && node) {
      const placement = { node, resources: requestsOf(workload), group: groupOf(workload) };
      this.#observed.set(key, placement);
      this.#count(placement, 1);
    } else this.#observed.delete(key);
    // The assumption has served its purpose once the cache shows the Workload bound, gone or finished, or any
    // newer version: the binding write's resourceVersion precondition then fails (or it is this very write).
    const assumed = this.#assumed.get(key);
    if (!assumed) return;
    if (!workload || workload.status?.nodeName || isTerminal(workload) || workload.metadata.resourceVersion !== assumed.resourceVersion) this.forget(key);
  }

  /** Accounts `workload` on `node` now, before its binding is written; replaces an earlier assumption of the key. */
  assume(key: string, workload: Workload, node: string): Assumption {
    this.forget(key);
    const assumption: Assumption = { key, node, resources: requestsOf(workload), group: groupOf(workload), resourceVersion: workload.metadata.resourceVersion };
    this.#assumed.set(key, assumption);
    this.#count(assumption, 1);
    this.#lastAssumedAt = performance.now();
    return assumption;
  }

  /** Undoes the key's assumption; with `only`, just when that is still the current one. */
  forget(key: string, only?: Assumption): void {
    const assumption = this.#assumed.get(key);
    if (!assumption || (only && assumption !== only)) return;
    this.#assumed.delete(key);
    this.#count(assumption, -1);
  }

  isAssumed(key: string): boolean {
    return this.#assumed.has(key);
  }

  get assumedCount(): number {
    return this.#assumed.size;
  }

  /** When the last decision was accounted (performance.now()), to tell a scheduling burst from a quiet cluster. */
  get lastAssumedAt(): number {
    return this.#lastAssumedAt;
  }

  used(node: string): Resources {
    return this.#used.get(node) ?? noResources;
  }

  /** How many Workloads of `workload`'s spread group each node holds. */
  groupCounts(workload: Workload): Map<string, number> {
    const group = groupOf(workload);
    return (group && this.#groups.get(group)) || new Map();
  }

  #count(placement: Placement, sign: 1 | -1): void {
    this.#used.set(placement.node, add(this.used(placement.node), placement.resources, sign));
    if (!placement.group) return;
    const counts = this.#groups.get(placement.group) ?? new Map<string, number>();
    counts.set(placement.node, (counts.get(placement.node) ?? 0) + sign);
    this.#groups.set(placement.group, counts);
  }
}
