import assert from 'node:assert/strict';
import { parseBool, parseFlags } from '../../operator/src/runtime/flags.ts';
import { matchesLabelSelector } from '../../operator/src/runtime/labels.ts';
import { parseBindAddress } from '../../operator/src/runtime/http.ts';
import { backoffDelay } from '../../operator/src/runtime/backoff.ts';

describe('flags', () => {
  const specs = { 'metrics-bind-address': { help: '', default: ':8080' }, kubeconfig: { help: '', default: '', env: 'KUBECONFIG' } };
  it('prefers the command line, then the env twin, then the default', () => {
    assert.deepEqual(parseFlags(specs, [], {}), { 'metrics-bind-address': ':8080', kubeconfig: '' });
    assert.equal(parseFlags(specs, [], { SHOAL_METRICS_BIND_ADDRESS: ':9' })['metrics-bind-address'], ':9');
    assert.equal(parseFlags(specs, ['--metrics-bind-address=:7'], { SHOAL_METRICS_BIND_ADDRESS: ':9' })['metrics-bind-address'], ':7');
    assert.equal(parseFlags(specs, [], { KUBECONFIG: '/k' }).kubeconfig, '/k');
  });
  it('rejects unknown flags and bad booleans', () => {
    assert.throws(() => parseFlags(specs, ['--nope=1'], {}), /nope/);
    assert.equal(parseBool('true', 'x'), true);
    assert.equal(parseBool('0', 'x'), false);
    assert.throws(() => parseBool('maybe', 'leader-elect'), /--leader-elect/);
  });
  it('parses bind addresses', () => {
    assert.deepEqual(parseBindAddress(':8080'), { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(parseBindAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.equal(parseBindAddress('0'), undefined);
    assert.throws(() => parseBindAddress(':99999'), /invalid bind address/);
  });
});

describe('label selectors', () => {
  const labels = { zone: 'a', gpu: 'true' };
  it('matches matchLabels and every expression operator', () => {
    assert.ok(matchesLabelSelector(undefined, labels), 'empty selector selects everything');
    assert.ok(matchesLabelSelector({ matchLabels: { zone: 'a' } }, labels));
    assert.ok(!matchesLabelSelector({ matchLabels: { zone: 'b' } }, labels));
    assert.ok(matchesLabelSelector({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, labels));
    assert.ok(!matchesLabelSelector({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels));
    assert.ok(matchesLabelSelector({ matchExpressions: [{ key: 'ssd', operator: 'NotIn', values: ['x'] }] }, labels));
    assert.ok(matchesLabelSelector({ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }, labels));
    assert.ok(!matchesLabelSelector({ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }, labels));
    assert.ok(!matchesLabelSelector({ matchExpressions: [{ key: 'gpu', operator: 'Bogus' }] }, labels));
  });
});

describe('backoff', () => {
  it('grows by the factor, caps at max, and adds at most the jitter fraction', () => {
    const opts = { initialMs: 100, maxMs: 1000, jitter: 0 };
    assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, opts)), [100, 200, 400, 800, 1000, 1000]);
    assert.equal(backoffDelay(0, { initialMs: 100, maxMs: 1000, jitter: 0.5, random: () => 1 }), 150);
  });
});
