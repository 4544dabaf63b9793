import assert from 'node:assert/strict';
import { contentRange, parseRange, unsatisfiedRange } from '../../agents/mirror/range.ts';

describe('mirror range', () => {
  it('serves the whole blob without a Range header', () => {
    assert.deepEqual(parseRange(undefined, 100), { kind: 'full' });
    assert.deepEqual(parseRange('  ', 100), { kind: 'full' });
  });

  it('honours one bytes range, clamping the end to the blob', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'partial', start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'partial', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=90-1000', 100), { kind: 'partial', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=99-99', 100), { kind: 'partial', start: 99, end: 99 });
    assert.deepEqual(parseRange('Bytes = 5-6', 100), { kind: 'partial', start: 5, end: 6 });
    assert.deepEqual(parseRange('bytes=0-99999999999999999999999', 100), { kind: 'partial', start: 0, end: 99 });
  });

  it('honours suffix ranges', () => {
    assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'partial', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-1000', 100), { kind: 'partial', start: 0, end: 99 });
  });

  it('ignores several ranges and other units (whole blob, like registries)', () => {
    assert.deepEqual(parseRange('bytes=0-1,5-6', 100), { kind: 'full' });
    assert.deepEqual(parseRange('bytes=0-1, -5', 100), { kind: 'full' });
    assert.deepEqual(parseRange('items=0-1', 100), { kind: 'full' });
  });

  it('refuses unsatisfiable and malformed ranges', () => {
    for (const header of ['bytes=100-', 'bytes=100-200', 'bytes=5-4', 'bytes=-0', 'bytes=abc', 'bytes=1-2-3', 'bytes=', 'bytes=--1', 'bytes=0x1-2', 'nonsense', 'bytes=99999999999999999999999-']) {
      assert.equal(parseRange(header, 100).kind, 'unsatisfiable', header);
    }
    assert.equal(parseRange('bytes=0-0', 0).kind, 'unsatisfiable');
    assert.equal(parseRange('bytes=-1', 0).kind, 'unsatisfiable');
  });

  it('formats Content-Range', () => {
    assert.equal(contentRange(0, 9, 100), 'bytes 0-9/100');
    assert.equal(unsatisfiedRange(100), 'bytes */100');
  });
});
