import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ownerOf, rankPeers } from '../../agents/mirror/upstream/owner.ts';

const digestOf = (i: number): string => `sha256:${createHash('sha256').update(`blob-${i}`).digest('hex')}`;
const peers = Array.from({ length: 8 }, (_, i) => `12D3KooWPeer${i}`);
const digests = Array.from({ length: 8000 }, (_, i) => digestOf(i));

describe('mirror upstream ownerOf (rendezvous hashing)', () => {
  it('is deterministic and independent of the order of the peer list', () => {
    const shuffled = [...peers].reverse();
    for (const digest of digests.slice(0, 500)) {
      assert.equal(ownerOf(digest, peers), ownerOf(digest, shuffled));
      assert.equal(ownerOf(digest, peers), ownerOf(digest, [...peers]));
    }
  });

  it('spreads digests evenly over the peers', () => {
    const counts = new Map<string, number>();
    for (const digest of digests) counts.set(ownerOf(digest, peers), (counts.get(ownerOf(digest, peers)) ?? 0) + 1);
    assert.equal(counts.size, peers.length, 'every peer owns something');
    const expected = digests.length / peers.length; // 1000; binomial sd ≈ 30, so ±15% is > 4.5 sd
    for (const [peer, count] of counts) assert.ok(Math.abs(count - expected) < expected * 0.15, `${peer} owns ${count}, expected about ${expected}`);
  });

  it('moves only the leaving peer’s digests, spread over the others', () => {
    const leaving = peers[3] ?? '';
    const remaining = peers.filter((peer) => peer !== leaving);
    const movedTo = new Map<string, number>();
    let moved = 0;
    for (const digest of digests) {
      const before = ownerOf(digest, peers);
      const after = ownerOf(digest, remaining);
      if (before !== leaving) assert.equal(after, before, `${digest} moved from ${before} though ${leaving} left`);
      else {
        moved++;
        movedTo.set(after, (movedTo.get(after) ?? 0) + 1);
      }
    }
    assert.ok(moved > 0);
    assert.equal(movedTo.size, remaining.length, 'the orphaned digests go to every remaining peer, not one');
  });

  it('gives a joining peer about 1/n of the digests, taken from the others', () => {
    const joined = [...peers, '12D3KooWNewcomer'];
    let taken = 0;
    for (const digest of digests) {
      const after = ownerOf(digest, joined);
      if (after === '12D3KooWNewcomer') taken++;
      else assert.equal(after, ownerOf(digest, peers));
    }
    const expected = digests.length / joined.length;
    assert.ok(Math.abs(taken - expected) < expected * 0.2, `newcomer took ${taken}, expected about ${expected}`);
  });

  it('rankPeers starts with the owner and lists each peer once', () => {
    for (const digest of digests.slice(0, 200)) {
      const ranked = rankPeers(digest, [...peers, peers[0] ?? '']);
      assert.equal(ranked[0], ownerOf(digest, peers));
      assert.deepEqual([...ranked].sort(), [...peers].sort());
      // The runner-up is the owner once the owner is gone.
      assert.equal(ranked[1], ownerOf(digest, peers.filter((peer) => peer !== ranked[0])));
    }
  });

  it('throws on an empty peer list and handles a single peer', () => {
    assert.throws(() => ownerOf(digests[0] ?? '', []), RangeError);
    assert.equal(ownerOf(digests[0] ?? '', ['only']), 'only');
  });
});
