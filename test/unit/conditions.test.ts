import assert from 'node:assert/strict';
import { findCondition, isConditionTrue, kubeTime, removeCondition, setCondition, setConditions } from '../../operator/src/runtime/conditions.ts';

describe('conditions', () => {
  const t0 = new Date('2026-01-01T00:00:00.123Z');
  const t1 = new Date('2026-01-01T00:05:00Z');

  it('formats times at second precision like metav1.Time', () => {
    assert.equal(kubeTime(t0), '2026-01-01T00:00:00Z');
  });

  it('adds a condition with a transition time', () => {
    const list = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Waiting', message: 'm', observedGeneration: 1 }, t0);
    assert.deepEqual(list, [{ type: 'Ready', status: 'False', reason: 'Waiting', message: 'm', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z' }]);
  });

  it('keeps lastTransitionTime when only reason or message change, moves it when status flips', () => {
    let list = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t0);
    list = setCondition(list, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, t1);
    assert.equal(findCondition(list, 'Ready')?.lastTransitionTime, '2026-01-01T00:00:00Z');
    assert.equal(findCondition(list, 'Ready')?.reason, 'B');
    list = setCondition(list, { type: 'Ready', status: 'True', reason: 'Ok', message: '' }, t1);
    assert.equal(findCondition(list, 'Ready')?.lastTransitionTime, '2026-01-01T00:05:00Z');
    assert.ok(isConditionTrue(list, 'Ready'));
  });

  it('does not mutate its input and keeps other conditions in order', () => {
    const original = setConditions(undefined, [
      { type: 'Accepted', status: 'True', reason: 'Valid', message: '' },
      { type: 'Ready', status: 'False', reason: 'Waiting', message: '' },
    ], t0);
    const frozen = structuredClone(original);
    const next = setCondition(original, { type: 'Accepted', status: 'False', reason: 'Invalid', message: 'x' }, t1);
    assert.deepEqual(original, frozen);
    assert.deepEqual(next.map((c) => c.type), ['Accepted', 'Ready']);
    assert.deepEqual(removeCondition(next, 'Accepted').map((c) => c.type), ['Ready']);
    assert.equal(isConditionTrue(next, 'Missing'), false);
  });
});
