import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { PeerHealth } from '../../agents/mirror/peer-health.ts';

async function penalties(metrics: Registry, reason: string): Promise<number> {
  const metric = (await metrics.getMetricsAsJSON()).find((m) => m.name === 'shoal_mirror_peer_penalties_total');
  return Number((metric?.values as { labels: { reason?: string }; value: number }[] | undefined)?.find((v) => v.labels.reason === reason)?.value ?? 0);
}

describe('mirror peer health', () => {
  let now: number;
  let metrics: Registry;
  let health: PeerHealth;

  beforeEach(() => {
    now = 1_000_000;
    metrics = new Registry();
    health = new PeerHealth({ metrics, now: () => now, errorCoolOffMs: 1000, maxErrorCoolOffMs: 8000, lieCoolOffMs: 60_000, maxLieCoolOffMs: 240_000 });
  });

  it('skips a penalised peer until its cool-off ends, keeping the resolver order of the others', () => {
    const peers = ['a', 'b', 'c', 'd'];
    health.penalise('b', 'peer-error');
    health.penalise('d', 'timeout');
    assert.deepEqual(health.partition(peers, (p) => p), { usable: ['a', 'c'], coolingOff: ['b', 'd'] });
    now += 999;
    assert.equal(health.coolingOff('b'), true);
    now += 1;
    assert.equal(health.coolingOff('b'), false);
    assert.deepEqual(health.partition(peers, (p) => p).usable, ['a', 'b', 'c', 'd']);
  });

  it('doubles the cool-off with each consecutive strike, up to the cap, and forgives errors after a success', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => health.penalise('a', 'peer-error')), [1000, 2000, 4000, 8000, 8000, 8000]);
    health.succeeded('a');
    assert.equal(health.penalise('a', 'timeout'), 1000);
  });

  it('keeps liars out much longer, and an error never shortens a liar\'s cool-off', async () => {
    assert.equal(health.penalise('liar', 'digest-mismatch'), 60_000);
    health.penalise('liar', 'peer-error');
    now += 30_000;
    assert.equal(health.coolingOff('liar'), true, 'still out after the error cool-off would have ended');
    assert.equal(health.coolOffEnds('liar'), 1_060_000);
    now += 30_000;
    assert.equal(health.coolingOff('liar'), false);
    health.succeeded('liar');
    assert.equal(health.penalise('liar', 'digest-mismatch'), 120_000, 'lies are not forgiven by a success');
    assert.equal(await penalties(metrics, 'digest-mismatch'), 2);
    assert.equal(await penalties(metrics, 'peer-error'), 1);
    assert.equal(await penalties(metrics, 'timeout'), 0);
  });

  it('remembers a bounded number of peers', () => {
    const small = new PeerHealth({ metrics: new Registry(), now: () => now, maxPeers: 3 });
    for (const peer of ['a', 'b', 'c', 'd', 'e']) small.penalise(peer, 'timeout');
    assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((p) => small.coolingOff(p)), [false, false, true, true, true]);
  });
});
