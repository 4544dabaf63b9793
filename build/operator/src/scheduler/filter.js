import { formatBytes, formatMilliCpu } from "../api/quantity.js";
import { isConditionTrue } from "../runtime/conditions.js";
import { matchesLabelSelector } from "../runtime/labels.js";
export function tolerates(toleration, taint) {
    if (toleration.effect && toleration.effect !== taint.effect)
        return false;
    if ((toleration.operator ?? 'Equal') === 'Exists')
        return !toleration.key || toleration.key === taint.key;
    return toleration.key === taint.key && (toleration.value ?? '') === (taint.value ?? '');
}
export function untolerated(workload, node, effects) {
    const tolerations = workload.spec.tolerations ?? [];
    return (node.spec?.taints ?? []).filter((taint) => effects.includes(taint.effect) && !tolerations.some((t) => tolerates(t, taint)));
}
/** The first reason `node` cannot take `workload`, or undefined if it can. */
export function rejectNode(workload, node, request, used, allocatable) {
    const name = node.metadata.name ?? '';
    const reject = (reason, message) => ({ node: name, reason, message });
    const pinned = workload.spec.nodeName;
    if (pinned && pinned !== name)
        return reject('NodeNameMismatch', `the workload is pinned to node ${pinned}`);
    if (!isConditionTrue(node.status?.conditions, 'Ready'))
        return reject('NodeNotReady', 'the node is not Ready');
    if (node.spec?.unschedulable)
        return reject('Unschedulable', 'the node is cordoned');
    if (!matchesLabelSelector({ matchLabels: workload.spec.nodeSelector ?? {} }, node.metadata.labels)) {
        return reject('NodeSelectorMismatch', "the node's labels do not match spec.nodeSelector");
    }
    const [taint] = untolerated(workload, node, ['NoSchedule', 'NoExecute']);
    if (taint)
        return reject('UntoleratedTaint', `the node has taint ${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect} that the workload does not tolerate`);
    if (used.workloads + request.workloads > allocatable.workloads) {
        return reject('TooManyWorkloads', `the node runs ${used.workloads} of at most ${allocatable.workloads} workloads`);
    }
    if (used.milliCpu + request.milliCpu > allocatable.milliCpu) {
        return reject('InsufficientCPU', `requests ${formatMilliCpu(request.milliCpu)} CPU, ${formatMilliCpu(Math.max(0, allocatable.milliCpu - used.milliCpu))} of ${formatMilliCpu(allocatable.milliCpu)} free`);
    }
    if (used.memory + request.memory > allocatable.memory) {
        return reject('InsufficientMemory', `requests ${formatBytes(request.memory)} memory, ${formatBytes(Math.max(0, allocatable.memory - used.memory))} of ${formatBytes(allocatable.memory)} free`);
    }
    return undefined;
}
