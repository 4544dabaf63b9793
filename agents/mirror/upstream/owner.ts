// Which peer fetches a digest from upstream: rendezvous (highest-random-weight) hashing of (digest, peer ID).
// Every node computes the same owner from the same peer list without talking; when a peer leaves, only the
// digests it owned move (each to its own runner-up), and a joining peer takes an even share from everyone.
import { createHash } from 'node:crypto';

/** The weight of `peerId` for `digest`: the first 64 bits of sha256(digest NUL peerId). */
function weight(digest: string, peerId: string): bigint {
  return createHash('sha256').update(digest).update('\0').update(peerId).digest().readBigUInt64BE(0);
}

/** `peerIds` (duplicates removed) from most to least preferred for `digest`: the owner first, then its fallbacks. */
export function rankPeers(digest: string, peerIds: readonly string[]): string[] {
  const scored = [...new Set(peerIds)].map((id) => ({ id, score: weight(digest, id) }));
  // Ties (64-bit collisions) are broken by ID so that every node still agrees.
  scored.sort((a, b) => (a.score !== b.score ? (a.score > b.score ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return scored.map((entry) => entry.id);
}

/** The peer that fetches `digest` from upstream; throws RangeError for an empty peer list. */
export function ownerOf(digest: string, peerIds: readonly string[]): string {
  let best: string | undefined;
  let bestScore = -1n;
  for (const id of peerIds) {
    const score = weight(digest, id);
    if (score > bestScore || (score === bestScore && best !== undefined && id < best)) {
      best = id;
      bestScore = score;
    }
  }
  if (best === undefined) throw new RangeError('ownerOf: no peers');
  return best;
}
