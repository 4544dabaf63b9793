// Per-node accounted requests: the informer cache's non-terminal bound Workloads, plus bindings we have
// written but not yet seen come back (kube-scheduler's "assumed" pods), so parallel binds never overcommit.
import type { Workload } from '../api/generated/types.ts';
import { add, holdingNode, noResources, requestsOf, type Resources } from './resources.ts';

interface Placement {
  node: string;
  resources: Resources;
  group: string | undefined;
}

const groupOf = (workload: Workload): string | undefined => {
  const group = workload.spec.scheduling?.spreadGroup;
  return group ? `${workload.metadata.namespace}/${group}` : undefined;
};

export class NodeAccounting {
  readonly #observed = new Map<string, Placement>();
  readonly #assumed = new Map<string, Placement>();
  readonly #used = new Map<string, Resources>();
  readonly #groups = new Map<string, Map<string, number>>();

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
    // Once the cache shows the Workload bound (or gone, or finished) the assumption has served its purpose.
    if (!workload || workload.status?.nodeName || !node) this.forget(key);
  }

  assume(key: string, workload: Workload, node: string): void {
    this.forget(key);
    const placement = { node, resources: requestsOf(workload), group: groupOf(workload) };
    this.#assumed.set(key, placement);
    this.#count(placement, 1);
  }

  forget(key: string): void {
    const placement = this.#assumed.get(key);
    if (!placement) return;
    this.#assumed.delete(key);
    this.#count(placement, -1);
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
