// Selection rules of the mirror configuration an agent applies (agents/mirror/policy.ts, shared rule in
// operator/src/mirror/selection.ts), MirrorReady's precedence, and the operator's aggregation.
import assert from 'node:assert/strict';
import { mirrorReadyCondition, type MirrorReadyFacts } from '../../agents/mirror/mirror-status.ts';
import { effectiveMirrorConfig, policyDefaults, type EffectiveMirrorConfig } from '../../agents/mirror/policy.ts';
import type { MirrorPolicy, MirrorPolicySpec, Node } from '../../operator/src/api/generated/types.ts';
import { specProblems } from '../../operator/src/controllers/mirrorpolicy.ts';
import { advertisedImages, advertisedKeys, maxPolicyPreheatEntries, preheatedCondition, preheatSummary } from '../../operator/src/mirror/aggregate.ts';
import { byAge, registryOf, registryOwners } from '../../operator/src/mirror/selection.ts';

const policy = (name: string, created: string, spec: Partial<MirrorPolicySpec>, extra: Partial<MirrorPolicy['metadata']> = {}): MirrorPolicy => ({
  apiVersion: 'shoal.dev/v1alpha1',
  kind: 'MirrorPolicy',
  metadata: { name, creationTimestamp: new Date(created), generation: 1, ...extra },
  spec: { registries: [{ host: 'docker.io' }], ...spec },
});

const node = (name: string, labels: Record<string, string>, status: Node['status'] = {}): Node => ({
  apiVersion: 'shoal.dev/v1alpha1',
  kind: 'Node',
  metadata: { name, labels },
  spec: {},
  status,
});

describe('mirror policy selection', () => {
  it('selects by nodeSelector: matchLabels and matchExpressions, unset selects every node', () => {
    const gpu = policy('gpu', '2026-01-01T00:00:00Z', { nodeSelector: { matchLabels: { pool: 'gpu' }, matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] } });
    assert.equal(effectiveMirrorConfig([gpu], { pool: 'gpu', zone: 'a' })?.primaryPolicy, 'gpu');
    assert.equal(effectiveMirrorConfig([gpu], { pool: 'gpu', zone: 'c' }), undefined);
    assert.equal(effectiveMirrorConfig([gpu], { pool: 'cpu', zone: 'a' }), undefined);
    assert.equal(effectiveMirrorConfig([gpu], undefined), undefined);
    const all = policy('all', '2026-01-01T00:00:00Z', {});
    assert.equal(effectiveMirrorConfig([all], undefined)?.primaryPolicy, 'all');
    assert.equal(effectiveMirrorConfig([policy('empty', '2026-01-01T00:00:00Z', { nodeSelector: {} })], { x: 'y' })?.primaryPolicy, 'empty');
  });

  it('gives each registry to the oldest selecting policy, the name breaking ties, and ignores policies being deleted', () => {
    const older = policy('zeta', '2026-01-01T00:00:00Z', { registries: [{ host: 'docker.io' }, { host: 'ghcr.io' }], tags: { resolve: false } });
    const newer = policy('alpha', '2026-02-01T00:00:00Z', { registries: [{ host: 'ghcr.io' }, { host: 'quay.io' }] });
    const config = effectiveMirrorConfig([newer, older], {});
    assert.deepEqual(
      config?.registries.map((r) => [r.host, r.policy, r.resolveTags]),
      [
        ['docker.io', 'zeta', false],
        ['ghcr.io', 'zeta', false],
        ['quay.io', 'alpha', true],
      ],
    );
    assert.equal(config?.primaryPolicy, 'zeta');
    // Same creation time: the name decides, as in the operator.
    const a = policy('a', '2026-01-01T00:00:00Z', {});
    const b = policy('b', '2026-01-01T00:00:00Z', {});
    assert.equal(registryOwners([b, a], {}).get('docker.io')?.metadata.name, 'a');
    assert.deepEqual(byAge([b, older, newer, a]).map((p) => p.metadata.name), ['a', 'b', 'zeta', 'alpha']);
    // The older one is being deleted: the newer one takes its registries over.
    const deleting = policy('zeta', '2026-01-01T00:00:00Z', older.spec, { deletionTimestamp: new Date('2026-03-01T00:00:00Z') });
    assert.deepEqual(effectiveMirrorConfig([deleting, newer], {})?.registries.map((r) => [r.host, r.policy]), [
      ['ghcr.io', 'alpha'],
      ['quay.io', 'alpha'],
    ]);
  });

  it('agrees with the operator: a policy the operator rejects for a conflict loses that registry on the agent', () => {
    const labels = { pool: 'a' };
    const nodes = [node('n1', labels)];
    const first = policy('first', '2026-01-01T00:00:00Z', { registries: [{ host: 'docker.io' }] });
    const second = policy('second', '2026-01-02T00:00:00Z', { registries: [{ host: 'docker.io' }, { host: 'ghcr.io' }] });
    assert.equal(specProblems(second, [first, second], nodes)[0]?.reason, 'Conflict');
    assert.deepEqual(specProblems(first, [first, second], nodes), []);
    assert.equal(effectiveMirrorConfig([first, second], labels)?.registries.find((r) => r.host === 'docker.io')?.policy, 'first');
  });

  it('applies tag settings and defaults; resolveLatest needs resolve', () => {
    const defaults = effectiveMirrorConfig([policy('p', '2026-01-01T00:00:00Z', {})], {}) as EffectiveMirrorConfig;
    assert.deepEqual(
      [defaults.resolveTags, defaults.resolveLatest, defaults.resolveTimeoutMs, defaults.resolveRetries, defaults.mirrorPort],
      [policyDefaults.resolveTags, policyDefaults.resolveLatest, 20, 3, 5050],
    );
    const latest = effectiveMirrorConfig([policy('p', '2026-01-01T00:00:00Z', { tags: { resolve: true, resolveLatest: true } })], {});
    assert.deepEqual([latest?.resolveTags, latest?.resolveLatest, latest?.registries[0]?.resolveLatest], [true, true, true]);
    const off = effectiveMirrorConfig([policy('p', '2026-01-01T00:00:00Z', { tags: { resolve: false, resolveLatest: true } })], {});
    assert.deepEqual([off?.resolveTags, off?.resolveLatest, off?.registries[0]?.resolveTags], [false, false, false]);
  });

  it('parses resolveTimeout as a Go duration, falling back to the default when malformed', () => {
    const timeout = (resolveTimeout: string): number | undefined => effectiveMirrorConfig([policy('p', '2026-01-01T00:00:00Z', { resolveTimeout, resolveRetries: 7, mirrorPort: 6060 })], {})?.resolveTimeoutMs;
    assert.equal(timeout('1.5s'), 1500);
    assert.equal(timeout('250ms'), 250);
    assert.equal(timeout('1s500ms'), 1500);
    assert.equal(timeout('500us'), 0.5);
    assert.equal(timeout('soon'), 20);
    const config = effectiveMirrorConfig([policy('p', '2026-01-01T00:00:00Z', { resolveRetries: 7, mirrorPort: 6060 })], {});
    assert.deepEqual([config?.resolveRetries, config?.mirrorPort], [7, 6060]);
  });

  it('preheats each selecting policy’s images from mirrored registries, deduplicated and sorted', () => {
    const a = policy('a', '2026-01-01T00:00:00Z', { registries: [{ host: 'localhost:5000' }], preheat: ['localhost:5000/z:1', 'localhost:5000/a:1'] });
    const b = policy('b', '2026-01-02T00:00:00Z', { registries: [{ host: 'ghcr.io' }], preheat: ['ghcr.io/x/y:2', 'localhost:5000/a:1'] });
    const notSelecting = policy('c', '2026-01-01T00:00:00Z', { registries: [{ host: 'quay.io' }], preheat: ['quay.io/q:1'], nodeSelector: { matchLabels: { never: 'x' } } });
    assert.deepEqual(effectiveMirrorConfig([b, a, notSelecting], {})?.preheat, [
      { image: 'ghcr.io/x/y:2', policy: 'b' },
      { image: 'localhost:5000/a:1', policy: 'a' },
      { image: 'localhost:5000/z:1', policy: 'a' },
    ]);
    assert.equal(registryOf('localhost:5000/a/b:1'), 'localhost:5000');
    assert.equal(registryOf('busybox'), '');
  });
});

describe('MirrorReady', () => {
  const config = effectiveMirrorConfig([policy('p', '2026-01-01T00:00:00Z', {})], {}) as EffectiveMirrorConfig;
  const good: MirrorReadyFacts = {
    containerdConfig: { ok: true, message: 'fine' },
    policySynced: true,
    policy: config,
    hostsToml: { synced: true, applied: structuredClone(config), mirrorUrl: 'http://127.0.0.1:5050', error: undefined },
    servingProblem: undefined,
  };
  const reason = (facts: Partial<MirrorReadyFacts>): string => {
    const c = mirrorReadyCondition({ ...good, ...facts });
    return `${c.status}/${c.reason}`;
  };

  it('is True when containerd is configured, a policy selects the node, hosts.toml is written and the mirror serves', () => {
    assert.equal(reason({}), 'True/MirrorServing');
  });

  it('reports the most fundamental problem first; a containerd misconfiguration even without a policy', () => {
    assert.equal(reason({ containerdConfig: undefined }), 'Unknown/Checking');
    assert.equal(reason({ containerdConfig: { ok: false, reason: 'ConfigPathNotSet', message: 'x' }, policy: undefined }), 'False/ConfigPathNotSet');
    assert.equal(reason({ containerdConfig: { ok: false, reason: 'DiscardUnpackedLayers', message: 'x' }, servingProblem: 'down' }), 'False/DiscardUnpackedLayers');
    assert.equal(reason({ policySynced: false, policy: undefined }), 'Unknown/Checking');
    assert.equal(reason({ policy: undefined }), 'False/NoPolicy');
    assert.equal(reason({ hostsToml: { ...good.hostsToml, error: 'EACCES' } }), 'False/HostsTomlFailed');
    assert.equal(reason({ hostsToml: { ...good.hostsToml, applied: undefined } }), 'Unknown/Configuring');
    assert.equal(reason({ servingProblem: 'not listening' }), 'False/MirrorNotServing');
  });
});

describe('MirrorPolicy status aggregation', () => {
  const p = policy('p', '2026-01-01T00:00:00Z', { registries: [{ host: 'localhost:5000' }], preheat: ['localhost:5000/b:1', 'localhost:5000/a:1'] });
  const ready = [{ type: 'MirrorReady', status: 'True' as const, reason: 'MirrorServing', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }];
  const d = (c: string): string => `sha256:${c.repeat(64)}`;

  it('lists every node × image with the phase the node reports, Pending when it reports none', () => {
    const n1 = node('n1', {}, { mirror: { preheat: [{ image: 'localhost:5000/a:1', phase: 'Completed', bytesDone: 10, bytesTotal: 10 }, { image: 'localhost:5000/b:1', phase: 'Failed', message: 'boom' }] } });
    const n2 = node('n2', {}, {});
    const summary = preheatSummary(p, [n2, n1]);
    assert.deepEqual(summary.entries, [
      { node: 'n1', image: 'localhost:5000/a:1', phase: 'Completed', bytesDone: 10, bytesTotal: 10 },
      { node: 'n1', image: 'localhost:5000/b:1', phase: 'Failed', message: 'boom' },
      { node: 'n2', image: 'localhost:5000/a:1', phase: 'Pending' },
      { node: 'n2', image: 'localhost:5000/b:1', phase: 'Pending' },
    ]);
    assert.equal(preheatedCondition(p, summary, 2, 1)?.reason, 'PullFailed');
    const done = node('n1', {}, { mirror: { preheat: p.spec.preheat!.map((image) => ({ image, phase: 'Completed' as const })) } });
    assert.equal(preheatedCondition(p, preheatSummary(p, [done]), 1, 1)?.status, 'True');
    assert.equal(preheatedCondition(p, preheatSummary(p, [n2]), 1, 1)?.reason, 'InProgress');
    assert.equal(preheatedCondition({ ...p, spec: { ...p.spec, preheat: [] } }, preheatSummary(p, []), 0, 1), undefined);
  });

  it('drops Completed entries first when over the CRD limit', () => {
    const many = Array.from({ length: 600 }, (_, i) => node(`n${String(i).padStart(3, '0')}`, {}, { mirror: { preheat: [{ image: 'localhost:5000/a:1', phase: i < 300 ? 'Completed' : 'Pulling' }] } }));
    const summary = preheatSummary(p, many);
    assert.equal(summary.total, 1200);
    assert.equal(summary.entries.length, maxPolicyPreheatEntries);
    assert.equal(summary.entries.filter((e) => e.phase === 'Completed').length, maxPolicyPreheatEntries - 900);
  });

  it('sums advertised keys and counts distinct images from the policy’s registries on ready nodes', () => {
    const img = (digest: string, name: string): { digest: string; names: string[]; sizeBytes: number } => ({ digest, names: [name], sizeBytes: 1 });
    const n1 = node('n1', {}, { conditions: ready, mirror: { advertisedKeys: 5 }, images: [img(d('a'), 'localhost:5000/a:1'), img(d('b'), 'docker.io/library/b:1')] });
    const n2 = node('n2', {}, { conditions: ready, mirror: { advertisedKeys: 7 }, images: [img(d('a'), 'localhost:5000/a:1'), img(d('c'), 'localhost:5000/c:1')] });
    const notReady = node('n3', {}, { mirror: { advertisedKeys: 1 }, images: [img(d('e'), 'localhost:5000/e:1')] });
    assert.equal(advertisedKeys([n1, n2, notReady]), 13);
    assert.equal(advertisedImages(p, [n1, n2, notReady]), 2);
  });
});
