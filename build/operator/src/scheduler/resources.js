import { bytes, milliCpu } from "../api/quantity.js";
export const noResources = { milliCpu: 0, memory: 0, workloads: 0 };
// The CRD defaults requests to these; objects written before a default existed still get them.
const defaultCpu = 100;
const defaultMemory = 64 * 2 ** 20;
export function requestsOf(workload) {
    const requests = workload.spec.resources?.requests;
    return { milliCpu: milliCpu(requests?.cpu, defaultCpu), memory: bytes(requests?.memory, defaultMemory), workloads: 1 };
}
// Informer objects are replaced, never mutated, on change: keyed by object, the cache can never be stale.
const allocatableCache = new WeakMap();
/** Allocatable as the agent reports it, with the admin's capacityOverrides taking precedence. */
export function allocatableOf(node) {
    let cached = allocatableCache.get(node);
    if (!cached) {
        cached = parseAllocatable(node);
        allocatableCache.set(node, cached);
    }
    return cached;
}
function parseAllocatable(node) {
    const reported = node.status?.allocatable ?? node.status?.capacity;
    const overrides = node.spec?.capacityOverrides;
    return {
        milliCpu: milliCpu(overrides?.cpu ?? reported?.cpu, 0),
        memory: bytes(overrides?.memory ?? reported?.memory, 0),
        workloads: overrides?.workloads ?? reported?.workloads ?? 0,
    };
}
export function add(a, b, sign = 1) {
    return { milliCpu: a.milliCpu + sign * b.milliCpu, memory: a.memory + sign * b.memory, workloads: a.workloads + sign * b.workloads };
}
export const isTerminal = (workload) => workload.status?.phase === 'Succeeded' || workload.status?.phase === 'Failed';
/** The node a Workload's current attempt is bound to, if it still holds resources there. */
export function holdingNode(workload) {
    return isTerminal(workload) ? undefined : workload.status?.nodeName || undefined;
}
