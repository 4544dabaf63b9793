import assert from 'node:assert/strict';
import { bytes, formatBytes, formatMilliCpu, milliCpu, parseQuantity } from '../../operator/src/api/quantity.ts';

describe('quantities', () => {
  it('rejects what Kubernetes rejects', () => {
    for (const bad of ['', 'abc', '1x', '1 Mi', '--1', 'Mi', '1mi']) assert.throws(() => parseQuantity(bad), /invalid quantity/, bad);
    assert.throws(() => parseQuantity('-1'), /negative quantity/);
  });
  it('converts to millicores and bytes, rounding up', () => {
    assert.equal(milliCpu('100m'), 100);
    assert.equal(milliCpu('1.5'), 1500);
    assert.equal(milliCpu('0.0001'), 1);
    assert.equal(milliCpu(undefined, 250), 250);
    assert.equal(bytes('64Mi'), 67108864);
    assert.equal(bytes('1.5k'), 1500);
  });
  it('prints like kubectl', () => {
    assert.equal(formatMilliCpu(2000), '2');
    assert.equal(formatMilliCpu(1500), '1500m');
    assert.equal(formatBytes(64 * 2 ** 20), '64Mi');
    assert.equal(formatBytes(3 * 2 ** 30), '3Gi');
    assert.equal(formatBytes(1000), '1000');
  });
});
