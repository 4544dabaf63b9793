import { add, holdingNode, isTerminal, noResources, requestsOf } from "./resources.js";
const groupOf = (workload) => {
    const group = workload.spec.scheduling?.spreadGroup;
    return group ? `${workload.metadata.namespace}/${group}` : undefined;
};
export class NodeAccounting {
    #observed = new Map();
    #assumed = new Map();
    #used = new Map();
    #groups = new Map();
    /** Records the cached state of one Workload (undefined when deleted). */
    observe(key, workload) {
        const node = workload ? holdingNode(workload) : undefined;
        const before = this.#observed.get(key);
        if (before)
            this.#count(before, -1);
        if (workload && node) {
            const placement = { node, resources: requestsOf(workload), group: groupOf(workload) };
            this.#observed.set(key, placement);
            this.#count(placement, 1);
        }
        else
            this.#observed.delete(key);
        // The assumption has served its purpose once the cache shows the Workload bound, gone or finished, or any
        // newer version: the binding write's resourceVersion precondition then fails (or it is this very write).
        const assumed = this.#assumed.get(key);
        if (!assumed)
            return;
        if (!workload || workload.status?.nodeName || isTerminal(workload) || workload.metadata.resourceVersion !== assumed.resourceVersion)
            this.forget(key);
    }
    /** Accounts `workload` on `node` now, before its binding is written; replaces an earlier assumption of the key. */
    assume(key, workload, node) {
        this.forget(key);
        const assumption = { key, node, resources: requestsOf(workload), group: groupOf(workload), resourceVersion: workload.metadata.resourceVersion };
        this.#assumed.set(key, assumption);
        this.#count(assumption, 1);
        return assumption;
    }
    /** Undoes the key's assumption; with `only`, just when that is still the current one. */
    forget(key, only) {
        const assumption = this.#assumed.get(key);
        if (!assumption || (only && assumption !== only))
            return;
        this.#assumed.delete(key);
        this.#count(assumption, -1);
    }
    isAssumed(key) {
        return this.#assumed.has(key);
    }
    get assumedCount() {
        return this.#assumed.size;
    }
    used(node) {
        return this.#used.get(node) ?? noResources;
    }
    /** How many Workloads of `workload`'s spread group each node holds. */
    groupCounts(workload) {
        const group = groupOf(workload);
        return (group && this.#groups.get(group)) || new Map();
    }
    #count(placement, sign) {
        this.#used.set(placement.node, add(this.used(placement.node), placement.resources, sign));
        if (!placement.group)
            return;
        const counts = this.#groups.get(placement.group) ?? new Map();
        counts.set(placement.node, (counts.get(placement.node) ?? 0) + sign);
        this.#groups.set(placement.group, counts);
    }
}
