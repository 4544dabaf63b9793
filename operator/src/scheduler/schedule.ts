// One scheduling decision: filter every node, score the feasible ones, pick the best (ties by name).
import type { Node, Workload } from '../api/generated/types.ts';
import { normalizeImage } from '../api/image-ref.ts';
import type { NodeAccounting } from './accounting.ts';
import { rejectNode, type Rejection } from './filter.ts';
import { allocatableOf, requestsOf } from './resources.ts';
import { scoreNode } from './score.ts';

export type Decision = { node: string; score: number } | { rejections: Rejection[] };

export function schedule(workload: Workload, nodes: readonly Node[], accounting: NodeAccounting): Decision {
  const request = requestsOf(workload);
  const image = normalizeImage(workload.spec.image);
  const groupCounts = accounting.groupCounts(workload);
  const maxGroupCount = Math.max(0, ...groupCounts.values());
  const rejections: Rejection[] = [];
  let best: { node: string; score: number } | undefined;
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
    if (!best || score > best.score || (score === best.score && name < best.node)) best = { node: name, score };
  }
  return best ?? { rejections };
}

/** "0/3 nodes are available: 2 InsufficientCPU, 1 NodeNotReady." — kube-scheduler's summary line. */
export function summarize(rejections: readonly Rejection[], total: number): { message: string; counts: { reason: string; count: number }[] } {
  const byReason = new Map<string, number>();
  for (const r of rejections) byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
  const counts = [...byReason].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  const detail = counts.map((c) => `${c.count} ${c.reason}`).join(', ');
  return { message: `0/${total} nodes are available${detail ? `: ${detail}` : ''}.`, counts };
}
