// How Workload attempts map to containerd objects: ids, labels (for re-adoption after an agent restart) and logs.
import { join } from 'node:path';
export const label = {
    managed: 'shoal.dev/managed',
    node: 'shoal.dev/node',
    namespace: 'shoal.dev/namespace',
    name: 'shoal.dev/name',
    uid: 'shoal.dev/workload-uid',
    attempt: 'shoal.dev/attempt',
    restart: 'shoal.dev/restart',
    /** The Workload's termination grace, kept so an orphan is stopped as gently as its spec asked. */
    grace: 'shoal.dev/termination-grace-seconds',
};
export function containerId(uid, attempt, restart) {
    return `shoal-${uid}-a${attempt}-r${restart}`;
}
export function containerLabels(workload, node, attempt, restart) {
    return {
        [label.managed]: 'true',
        [label.node]: node,
        [label.namespace]: workload.metadata.namespace ?? '',
        [label.name]: workload.metadata.name ?? '',
        [label.uid]: workload.metadata.uid ?? '',
        [label.attempt]: String(attempt),
        [label.restart]: String(restart),
        [label.grace]: String(workload.spec.terminationGracePeriodSeconds ?? 30),
    };
}
/** The incarnation a container of ours runs, or undefined for a container we did not create. */
export function incarnationOf(container) {
    const l = container.labels;
    if (l[label.managed] !== 'true' || !l[label.namespace] || !l[label.name] || !l[label.uid])
        return undefined;
    return {
        key: `${l[label.namespace]}/${l[label.name]}`,
        uid: l[label.uid] ?? '',
        attempt: Number(l[label.attempt] ?? 0),
        restart: Number(l[label.restart] ?? 0),
        graceSeconds: Number(l[label.grace] ?? 30),
    };
}
/** Per-incarnation log file; the directory per Workload uid keeps attempts of a re-created namesake apart. */
export function logFile(stateDir, workload, attempt, restart) {
    return join(logDir(stateDir, workload), `a${attempt}-r${restart}.log`);
}
export function logDir(stateDir, workload) {
    return join(stateDir, 'logs', workload.namespace, workload.name, workload.uid);
}
/** kubelet's CrashLoopBackOff: 10 s doubling to 5 min. */
export function crashLoopDelayMs(restartCount) {
    return Math.min(300_000, 10_000 * 2 ** Math.max(0, restartCount - 1));
}
