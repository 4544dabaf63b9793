import { normalizeImage } from "../api/image-ref.js";
import { untolerated } from "./filter.js";
export const weights = { resources: 1, spread: 2, taints: 1, imageLocality: 1 };
/** Mean free (Spread) or used (BinPack) fraction of CPU and memory after placing the workload. */
export function resourceScore({ workload, request, used, allocatable }) {
    const fraction = (need, have) => (have <= 0 ? 1 : Math.min(1, need / have));
    const cpu = fraction(used.milliCpu + request.milliCpu, allocatable.milliCpu);
    const memory = fraction(used.memory + request.memory, allocatable.memory);
    const usedShare = (cpu + memory) / 2;
    return 100 * (workload.spec.scheduling?.strategy === 'BinPack' ? usedShare : 1 - usedShare);
}
/** Fewer members of the workload's spread group on a node score higher. */
export function spreadScore({ groupCount, maxGroupCount }) {
    return maxGroupCount === 0 ? 100 : (100 * (maxGroupCount - groupCount)) / maxGroupCount;
}
export function taintScore({ workload, node }) {
    return untolerated(workload, node, ['PreferNoSchedule']).length === 0 ? 100 : 0;
}
// Informer objects are replaced, never mutated, on change: keyed by object, the cache can never be stale.
const heldImagesCache = new WeakMap();
/** Every digest and normalised name of the images a node reports, computed once per Node object. */
export function heldImages(node) {
    let held = heldImagesCache.get(node);
    if (!held) {
        held = new Set((node.status?.images ?? []).flatMap((i) => [...(i.digest ? [i.digest] : []), ...(i.names ?? []).map(normalizeImage)]));
        heldImagesCache.set(node, held);
    }
    return held;
}
/** Nodes that already hold the image (by name or digest, as their agents report) start it without a pull. */
export function imageLocalityScore({ image, node }) {
    return heldImages(node).has(image) ? 100 : 0;
}
export function scoreNode(input) {
    return (weights.resources * resourceScore(input) +
        weights.spread * spreadScore(input) +
        weights.taints * taintScore(input) +
        weights.imageLocality * imageLocalityScore(input));
}
