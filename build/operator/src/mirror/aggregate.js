import { isConditionTrue } from "../runtime/conditions.js";
import { registryOf } from "./selection.js";
/** crds/shoal.dev_mirrorpolicies.yaml: status.preheat maxItems. */
export const maxPolicyPreheatEntries = 1024;
const byName = (a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : (a.metadata.name ?? '') > (b.metadata.name ?? '') ? 1 : 0);
/**
 * One entry per selected node and spec.preheat image, as the node reports it (Pending until it does).
 * Completed entries are left out first when the list would exceed the CRD's maxItems.
 */
export function preheatSummary(policy, selected) {
    const images = [...new Set(policy.spec.preheat ?? [])].sort();
    const all = [];
    for (const node of [...selected].sort(byName)) {
        const reported = new Map((node.status?.mirror?.preheat ?? []).map((p) => [p.image, p]));
        for (const image of images) {
            const p = reported.get(image);
            all.push({
                node: node.metadata.name ?? '',
                image,
                phase: p?.phase ?? 'Pending',
                ...(p?.bytesDone !== undefined ? { bytesDone: p.bytesDone } : {}),
                ...(p?.bytesTotal !== undefined ? { bytesTotal: p.bytesTotal } : {}),
                ...(p?.message ? { message: p.message.slice(0, 1024) } : {}),
            });
        }
    }
    const completed = all.filter((e) => e.phase === 'Completed').length;
    const entries = all.length <= maxPolicyPreheatEntries ? all : [...all.filter((e) => e.phase !== 'Completed'), ...all.filter((e) => e.phase === 'Completed')].slice(0, maxPolicyPreheatEntries);
    return { entries, total: all.length, completed, failed: all.filter((e) => e.phase === 'Failed') };
}
/** Preheated, or undefined when the policy preheats nothing. */
export function preheatedCondition(policy, summary, selected, observedGeneration) {
    if ((policy.spec.preheat ?? []).length === 0)
        return undefined;
    const base = { type: 'Preheated', observedGeneration };
    if (selected === 0)
        return { ...base, status: 'False', reason: 'NoNodesSelected', message: 'No Shoal node matches spec.nodeSelector.' };
    if (summary.completed === summary.total) {
        return { ...base, status: 'True', reason: 'Completed', message: `All ${summary.total} preheat pulls on ${selected} nodes completed.` };
    }
    const first = summary.failed[0];
    if (first) {
        return {
            ...base,
            status: 'False',
            reason: 'PullFailed',
            message: `${summary.failed.length} of ${summary.total} preheat pulls failed (retrying); ${first.node} ${first.image}: ${first.message ?? 'no message'}`.slice(0, 4096),
        };
    }
    return { ...base, status: 'False', reason: 'InProgress', message: `${summary.completed} of ${summary.total} preheat pulls completed.` };
}
/** Sum of the keys the selected nodes advertise (each node counts its own keys). */
export function advertisedKeys(selected) {
    return selected.reduce((sum, node) => sum + (node.status?.mirror?.advertisedKeys ?? 0), 0);
}
/**
 * Distinct images (by digest) that the selected nodes with a ready mirror hold from the policy's registries.
 * Per-node advertisedImages counts cannot be de-duplicated across nodes; status.images carries the digests.
 */
export function advertisedImages(policy, selected) {
    const registries = new Set(policy.spec.registries.map((r) => r.host));
    const digests = new Set();
    for (const node of selected) {
        if (!isConditionTrue(node.status?.conditions, 'MirrorReady'))
            continue;
        for (const image of node.status?.images ?? []) {
            if ((image.names ?? []).some((name) => registries.has(registryOf(name))))
                digests.add(image.digest);
        }
    }
    return digests.size;
}
