import assert from 'node:assert/strict';
import { WorkQueue } from '../../operator/src/runtime/workqueue.ts';
import { ItemExponentialRateLimiter, MaxOfRateLimiter, TokenBucketRateLimiter } from '../../operator/src/runtime/ratelimiter.ts';
import { RuntimeMetrics } from '../../operator/src/runtime/metrics.ts';

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('coalesces adds of a key that is already queued', async () => {
    const q = new WorkQueue({ name: 'test' });
    q.add('a');
    q.add('a');
    q.add('b');
    assert.equal(q.length, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
  });

  it('never hands one key to two workers at once, and requeues a key re-added while processing', async () => {
    const q = new WorkQueue({ name: 'test' });
    q.add('a');
    const first = await q.get();
    q.add('a');
    assert.equal(q.length, 0, 'the re-add waits while a is processing');
    const second = q.get();
    let got: string | undefined;
    void second.then((k) => (got = k));
    await tick();
    assert.equal(got, undefined, 'no second worker gets a while it is processing');
    q.done(first!);
    assert.equal(await second, 'a');
    q.done('a');
    assert.equal(q.length, 0);
  });

  it('wakes a waiting worker on add and returns undefined after shutdown', async () => {
    const q = new WorkQueue({ name: 'test' });
    const waiting = q.get();
    q.add('x');
    assert.equal(await waiting, 'x');
    const pending = q.get();
    q.shutDown();
    assert.equal(await pending, undefined);
    q.add('y');
    assert.equal(q.length, 0, 'adds after shutdown are dropped');
  });

  it('addAfter delays a key and keeps the earliest of several delays', async () => {
    const q = new WorkQueue({ name: 'test' });
    q.addAfter('k', 200);
    q.addAfter('k', 20);
    q.addAfter('k', 500);
    const started = performance.now();
    assert.equal(await q.get(), 'k');
    const waited = performance.now() - started;
    assert.ok(waited >= 15 && waited < 150, `waited ${waited} ms`);
    q.shutDown();
  });

  it('addRateLimited backs off per key exponentially and forget resets it', async () => {
    const limiter = new ItemExponentialRateLimiter({ baseMs: 10, maxMs: 1000, jitter: 0 });
    const q = new WorkQueue({ name: 'test', rateLimiter: limiter });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const started = performance.now();
      q.addRateLimited('k');
      const key = await q.get();
      delays.push(performance.now() - started);
      q.done(key!);
    }
    assert.equal(q.retries('k'), 4);
    assert.ok(delays[3]! >= 75, `fourth retry waited ${delays[3]} ms, expected ~80`);
    assert.ok(delays[3]! > delays[0]!);
    q.forget('k');
    assert.equal(q.retries('k'), 0);
    q.shutDown();
  });

  it('reports depth, adds and retries in controller-runtime metrics', async () => {
    const metrics = new RuntimeMetrics({ processMetrics: false });
    const q = new WorkQueue({ name: 'wq', metrics, rateLimiter: new ItemExponentialRateLimiter({ baseMs: 1, jitter: 0 }) });
    q.add('a');
    q.add('b');
    q.addRateLimited('c');
    const text = await metrics.registry.metrics();
    assert.match(text, /workqueue_depth\{name="wq",controller="wq"\} 2/);
    assert.match(text, /workqueue_adds_total\{name="wq",controller="wq"\} 2/);
    assert.match(text, /workqueue_retries_total\{name="wq",controller="wq"\} 1/);
    q.shutDown();
  });
});

describe('rate limiters', () => {
  it('item exponential: 5 ms doubling, capped at 1000 s, with bounded jitter', () => {
    const noJitter = new ItemExponentialRateLimiter({ jitter: 0 });
    const delays = Array.from({ length: 30 }, () => noJitter.when('k'));
    assert.deepEqual(delays.slice(0, 4), [5, 10, 20, 40]);
    assert.equal(delays[29], 1_000_000);
    const jittered = new ItemExponentialRateLimiter({ jitter: 0.1, random: () => 0.99 });
    const d = jittered.when('k');
    assert.ok(d > 5 && d <= 5.5, `jittered first delay ${d}`);
    assert.equal(noJitter.retries('other'), 0, 'keys are independent');
  });

  it('token bucket: a burst passes, then tokens come at qps', () => {
    let now = 0;
    const bucket = new TokenBucketRateLimiter({ qps: 10, burst: 3, now: () => now });
    assert.deepEqual([bucket.when(), bucket.when(), bucket.when()], [0, 0, 0]);
    assert.equal(Math.round(bucket.when()), 100);
    assert.equal(Math.round(bucket.when()), 200);
    now = 1000;
    assert.equal(bucket.when(), 0, 'refilled after a second');
  });

  it('max-of takes the slower limiter', () => {
    let now = 0;
    const limiter = new MaxOfRateLimiter(new ItemExponentialRateLimiter({ jitter: 0 }), new TokenBucketRateLimiter({ qps: 1, burst: 1, now: () => now }));
    assert.equal(limiter.when('a'), 5);
    assert.equal(Math.round(limiter.when('b')), 1000, 'the global bucket throttles a second key');
  });
});
