import assert from 'node:assert/strict';
import { cpuMillis, integerValue, memoryBytes, milliValue, parseQuantity, QuantityError } from '../../operator/src/api/quantity.ts';

describe('containerd quantity', () => {
  it('converts CPU quantities to millicores, rounding up like the API server', () => {
    const cases: [string | number, number][] = [
      ['100m', 100],
      ['0.5', 500],
      ['1', 1000],
      ['2', 2000],
      ['1.5', 1500],
      ['0.1', 100], // exact: no 100.00000000000001 → 101
      ['0.0001', 1],
      ['0.1m', 1],
      ['250m', 250],
      ['.5', 500],
      ['1e-3', 1],
      ['2e3', 2_000_000],
      [0.5, 500],
      [0.1, 100],
      ['0', 0],
      ['+1', 1000],
    ];
    for (const [input, want] of cases) assert.equal(cpuMillis(input), want, String(input));
  });

  it('converts memory quantities to bytes', () => {
    const cases: [string | number, number][] = [
      ['64Mi', 64 * 1024 * 1024],
      ['1Gi', 1024 ** 3],
      ['1.5Gi', 1.5 * 1024 ** 3],
      ['128974848', 128974848],
      ['129e6', 129_000_000],
      ['129M', 129_000_000],
      ['123Mi', 128974848],
      ['1k', 1000],
      ['1Ki', 1024],
      ['1P', 1e15],
      ['0.5Ki', 512],
      ['1.5', 2], // integer value rounds up
      ['100m', 1],
      [1048576, 1048576],
    ];
    for (const [input, want] of cases) assert.equal(memoryBytes(input), want, String(input));
  });

  it('keeps values exact as rationals', () => {
    assert.deepEqual(parseQuantity('1.25'), { numerator: 125n, denominator: 100n });
    assert.deepEqual(parseQuantity('3Ki'), { numerator: 3072n, denominator: 1n });
    assert.deepEqual(parseQuantity('5n'), { numerator: 5n, denominator: 1_000_000_000n });
    assert.deepEqual(parseQuantity('1E'), { numerator: 10n ** 18n, denominator: 1n }); // exa, not an exponent
    assert.equal(milliValue('1n'), 1);
    assert.equal(integerValue('999m'), 1);
  });

  it('rejects what Kubernetes rejects, and negative or huge values', () => {
    for (const bad of ['', ' ', 'abc', '1x', '1 Mi', '--1', 'Mi', '1mi', '1KI', '1K', '1e', '1.2.3', 'e3', '1Gib']) {
      assert.throws(() => parseQuantity(bad), QuantityError, JSON.stringify(bad));
    }
    assert.throws(() => cpuMillis('-100m'), /negative/);
    assert.throws(() => memoryBytes(Number.NaN), QuantityError);
    assert.throws(() => memoryBytes('1e400'), /out of range/);
    assert.throws(() => memoryBytes('100Ei'), /too large/);
    assert.equal(memoryBytes('-0'), 0);
  });
});
