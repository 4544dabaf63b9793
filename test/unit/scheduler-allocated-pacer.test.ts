import assert from 'node:assert/strict';
import { AllocatedPacer } from '../../operator/src/scheduler/allocated-pacer.ts';

describe('allocated status pacer', () => {
  it('lets a burst through, then one node write per token, each node holding its own slot', () => {
    let now = 0;
    const pacer = new AllocatedPacer({ perSecond: 10, burst: 2, maxDeferMs: 30_000, recheckMs: 1000, now: () => now });
    assert.equal(pacer.waitFor('a', false), 0);
    assert.equal(pacer.waitFor('b', false), 0);
    assert.equal(pacer.waitFor('c', false), 100, 'the bucket is empty: the third node waits a tenth of a second');
    assert.equal(pacer.waitFor('d', false), 200);
    assert.equal(pacer.waitFor('c', false), 100, 'asking again does not take a second token');
    now = 150;
    assert.equal(pacer.waitFor('c', false), 0);
    assert.equal(pacer.waitFor('d', false), 50);
    assert.equal(pacer.waiting, 4);
    for (const n of ['a', 'b', 'c']) pacer.release(n);
    assert.equal(pacer.waiting, 1);
    assert.equal(pacer.waitFor('a', false), 150, 'a node that wrote takes a new token for its next change');
  });

  it('defers writes while bindings are in flight, but never longer than maxDeferMs', () => {
    let now = 0;
    const pacer = new AllocatedPacer({ perSecond: 10, burst: 10, maxDeferMs: 2500, recheckMs: 1000, now: () => now });
    assert.equal(pacer.waitFor('a', true), 1000);
    now = 1000;
    assert.equal(pacer.waitFor('a', true), 1000);
    now = 2000;
    assert.equal(pacer.waitFor('a', true), 500, 'the last recheck lands on the deadline');
    now = 2500;
    assert.equal(pacer.waitFor('a', true), 0, 'past the deadline it takes a token although bindings are in flight');
    pacer.release('a');
    assert.equal(pacer.waitFor('b', true), 1000);
    assert.equal(pacer.waitFor('b', false), 0, 'the scheduler went idle: write now');
  });
});
