import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Binder } from '../../operator/src/scheduler/binder.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A write that finishes when the test says so. */
function gate(): { promise: Promise<void>; open(): void; fail(err: Error): void } {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

const binder = (limit: number, registry = new Registry()): Binder => new Binder({ limit, registry, logger: createLogger({}, { level: 'error' }) });

describe('scheduler binder', () => {
  it('starts writes without waiting for them, and holds the caller once `limit` are in flight', async () => {
    const b = binder(2);
    const signal = new AbortController().signal;
    const gates = [gate(), gate(), gate()];
    const settled: string[] = [];
    assert.equal(await b.whenFree(signal), true);
    b.start('a', 'bind', () => gates[0]!.promise, () => settled.push('a'));
    assert.equal(await b.whenFree(signal), true);
    b.start('b', 'bind', () => gates[1]!.promise, () => settled.push('b'));
    assert.equal(b.inFlight, 2);
    let free = false;
    const waiting = b.whenFree(signal).then((ok) => (free = ok));
    await tick(5);
    assert.equal(free, false, 'a third write waits for a slot');
    gates[1]!.open();
    await waiting;
    assert.equal(free, true);
    assert.deepEqual(settled, ['b']);
    b.start('c', 'bind', () => gates[2]!.promise, () => settled.push('c'));
    gates[0]!.open();
    gates[2]!.open();
    await b.drain();
    assert.deepEqual(settled.sort(), ['a', 'b', 'c']);
    assert.equal(b.inFlight, 0);
  });

  it('reports a failure to the write that failed, and whether its key was wanted meanwhile', async () => {
    const b = binder(4);
    const g = gate();
    const outcomes: { err: unknown; wantedAgain: boolean }[] = [];
    b.start('k', 'unschedulable', () => g.promise, (err, wantedAgain) => outcomes.push({ err, wantedAgain }));
    assert.equal(b.deferIfBusy('k'), true, 'a key with a write in flight is busy');
    assert.equal(b.deferIfBusy('other'), false);
    assert.throws(() => b.start('k', 'bind', () => Promise.resolve(), () => undefined), /already in flight/);
    g.fail(new Error('409'));
    await b.drain();
    assert.equal(outcomes.length, 1);
    assert.match(String(outcomes[0]!.err), /409/);
    assert.equal(outcomes[0]!.wantedAgain, true);
    assert.equal(b.deferIfBusy('k'), false, 'not busy once settled');

    b.start('k', 'bind', () => Promise.resolve(), (err, wantedAgain) => outcomes.push({ err, wantedAgain }));
    await b.drain();
    assert.deepEqual(outcomes[1], { err: undefined, wantedAgain: false });
  });

  it('stops waiting for a slot when the signal aborts', async () => {
    const b = binder(1);
    const g = gate();
    b.start('a', 'bind', () => g.promise, () => undefined);
    const stop = new AbortController();
    const waiting = b.whenFree(stop.signal);
    stop.abort();
    assert.equal(await waiting, false);
    g.open();
    await b.drain();
  });

  it('counts writes by kind and result', async () => {
    const registry = new Registry();
    const b = binder(4, registry);
    b.start('a', 'bind', () => Promise.resolve(), () => undefined);
    b.start('b', 'bind', () => Promise.reject(new Error('boom')), () => undefined);
    await b.drain();
    const text = await registry.metrics();
    assert.match(text, /shoal_scheduler_writes_total\{kind="bind",result="success"\} 1/);
    assert.match(text, /shoal_scheduler_writes_total\{kind="bind",result="error"\} 1/);
    assert.match(text, /shoal_scheduler_writes_in_flight 0/);
  });
});
