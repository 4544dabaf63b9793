// Scoring of feasible nodes, each plugin 0–100, weighted: resource fit (spread or bin-pack), spread of a
// group, PreferNoSchedule taints, and image locality.
import type { Node, Workload } from '../api/generated/types.ts';
import { normalizeImage } from '../api/image-ref.ts';
import { untolerated } from './filter.ts';
import type { Resources } from './resources.ts';

export interface ScoreInput {
  workload: Workload;
  /** The workload's image as containerd names it (normalised once per decision). */
  image: string;
  node: Node;
  request: Resources;
  used: Resources;
  allocatable: Resources;
  groupCount: number;
  maxGroupCount: number;
}

export const weights = { resources: 1, spread: 2, taints: 1, imageLocality: 1 } as const;

/** Mean free (Spread) or used (BinPack) fraction of CPU and memory after placing the workload. */
export function resourceScore({ workload, request, used, allocatable }: ScoreInput): number {
  const fraction = (need: number, have: number): number => (have <= 0 ? 1 : Math.min(1, need / have));
  const cpu = fraction(used.milliCpu + request.milliCpu, allocatable.milliCpu);
  const memory = fraction(used.memory + request.memory, allocatable.memory);
  const usedShare = (cpu + memory) / 2;
  return 100 * (workload.spec.scheduling?.strategy === 'BinPack' ? usedShare : 1 - usedShare);
}

/** Fewer members of the workload's spread group on a node score higher. */
export function spreadScore({ groupCount, maxGroupCount }: ScoreInput): number {
  return maxGroupCount === 0 ? 100 : (100 * (maxGroupCount - groupCount)) / maxGroupCount;
}

export function taintScore({ workload, node }: ScoreInput): number {
  return untolerated(workload, node, ['PreferNoSchedule']).length === 0 ? 100 : 0;
}

// Informer objects are replaced, never mutated, on change: keyed by object, the cache can never be stale.
const heldImagesCache = new WeakMap<Node, ReadonlySet<string>>();

/** Every digest and normalised name of the images a node reports, computed once per Node object. */
export function heldImages(node: Node): ReadonlySet<string> {
  let held = heldImagesCache.get(node);
  if (!held) {
    held = new Set((node.status?.images ?? []).flatMap((i) => [...(i.digest ? [i.digest] : []), ...(i.names ?? []).map(normalizeImage)]));
    heldImagesCache.set(node, held);
  }
  return held;
}

/** Nodes that already hold the image (by name or digest, as their agents report) start it without a pull. */
export function imageLocalityScore({ image, node }: ScoreInput): number {
  return heldImages(node).has(image) ? 100 : 0;
}

export function scoreNode(input: ScoreInput): number {
  return (
    weights.resources * resourceScore(input) +
    weights.spread * spreadScore(input) +
    weights.taints * taintScore(input) +
    weights.imageLocality * imageLocalityScore(input)
  );
}
