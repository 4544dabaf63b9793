import { normalizeImage } from "../api/image-ref.js";
import { rejectNode } from "./filter.js";
import { allocatableOf, requestsOf } from "./resources.js";
import { scoreNode } from "./score.js";
export function schedule(workload, nodes, accounting) {
    const request = requestsOf(workload);
    const image = normalizeImage(workload.spec.image);
    const groupCounts = accounting.groupCounts(workload);
    const maxGroupCount = Math.max(0, ...groupCounts.values());
    const rejections = [];
    let best;
    for (const node of nodes) {
        const name = node.metadata.name ?? '';
        const used = accounting.used(name);
        const allocatable = allocatableOf(node);
        const rejection = rejectNode(workload, node, request, used, allocatable);
        if (rejection) {
            rejections.push(rejection);
            continue;
        }
        const score = scoreNode({ workload, image, node, request, used, allocatable, groupCount: groupCounts.get(name) ?? 0, maxGroupCount });
        if (!best || score > best.score || (score === best.score && name < best.node))
            best = { node: name, score };
    }
    return best ?? { rejections };
}
/** "0/3 nodes are available: 2 InsufficientCPU, 1 NodeNotReady." — kube-scheduler's summary line. */
export function summarize(rejections, total) {
    const byReason = new Map();
    for (const r of rejections)
        byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
    const counts = [...byReason].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
    const detail = counts.map((c) => `${c.count} ${c.reason}`).join(', ');
    return { message: `0/${total} nodes are available${detail ? `: ${detail}` : ''}.`, counts };
}
