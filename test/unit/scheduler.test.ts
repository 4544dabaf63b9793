import assert from 'node:assert/strict';
import type { Node, Workload } from '../../operator/src/api/generated/types.ts';
import { NodeAccounting } from '../../operator/src/scheduler/accounting.ts';
import { tolerates } from '../../operator/src/scheduler/filter.ts';
import { schedule, summarize } from '../../operator/src/scheduler/schedule.ts';
import { normalizeImage } from '../../operator/src/api/image-ref.ts';
import { parseDuration } from '../../operator/src/runtime/duration.ts';

const now = '2026-01-01T00:00:00Z';
const ready = [{ type: 'Ready', status: 'True' as const, reason: 'AgentReady', message: '', lastTransitionTime: now }];

function node(name: string, extra: { cpu?: string; memory?: string; workloads?: number; labels?: Record<string, string>; spec?: Node['spec']; ready?: boolean; images?: string[] } = {}): Node {
  return {
    metadata: { name, labels: extra.labels ?? {} },
    spec: extra.spec ?? {},
    status: {
      conditions: extra.ready === false ? [] : ready,
      allocatable: { cpu: extra.cpu ?? '4', memory: extra.memory ?? '8Gi', workloads: extra.workloads ?? 110 },
      images: (extra.images ?? []).map((n) => ({ digest: 'sha256:' + 'a'.repeat(64), names: [n] })),
    },
  };
}

function workload(name: string, spec: Partial<Workload['spec']> = {}, status?: Workload['status']): Workload {
  return { metadata: { name, namespace: 'default' }, spec: { image: 'busybox', ...spec }, ...(status ? { status } : {}) };
}

describe('scheduler', () => {
  it('spreads equal workloads over equal nodes (least allocated)', () => {
    const accounting = new NodeAccounting();
    const nodes = [node('a'), node('b')];
    const placed = new Map<string, number>();
    for (let i = 0; i < 10; i++) {
      const w = workload(`w${i}`);
      const d = schedule(w, nodes, accounting);
      assert.ok('node' in d);
      accounting.assume(`default/w${i}`, w, d.node);
      placed.set(d.node, (placed.get(d.node) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(placed), { a: 5, b: 5 });
  });

  it('bin-packs when asked', () => {
    const accounting = new NodeAccounting();
    const nodes = [node('a'), node('b')];
    const first = workload('w0', { scheduling: { strategy: 'BinPack' } });
    const d0 = schedule(first, nodes, accounting);
    assert.ok('node' in d0);
    accounting.assume('default/w0', first, d0.node);
    const d1 = schedule(workload('w1', { scheduling: { strategy: 'BinPack' } }), nodes, accounting);
    assert.ok('node' in d1);
    assert.equal(d1.node, d0.node);
  });

  it('spreads a group even when bin-packing', () => {
    const accounting = new NodeAccounting();
    const nodes = [node('a'), node('b'), node('c')];
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const w = workload(`g${i}`, { scheduling: { strategy: 'BinPack', spreadGroup: 'web' } });
      const d = schedule(w, nodes, accounting);
      assert.ok('node' in d);
      accounting.assume(`default/g${i}`, w, d.node);
      seen.add(d.node);
    }
    assert.equal(seen.size, 3);
  });

  it('rejects with one reason per node and counts them', () => {
    const zoneA = { zone: 'a' };
    const nodes = [
      node('small', { cpu: '500m', labels: zoneA }),
      node('down', { ready: false, labels: zoneA }),
      node('cordoned', { spec: { unschedulable: true }, labels: zoneA }),
      node('tainted', { spec: { taints: [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }] }, labels: zoneA }),
      node('full', { workloads: 0, labels: zoneA }),
      node('other', { labels: { zone: 'b' } }),
      node('tight', { cpu: '1500m', labels: zoneA }),
    ];
    const d = schedule(workload('big', { resources: { requests: { cpu: '1', memory: '16Gi' } }, nodeSelector: zoneA }), nodes, new NodeAccounting());
    assert.ok('rejections' in d);
    assert.deepEqual(Object.fromEntries(d.rejections.map((r) => [r.node, r.reason])), {
      small: 'InsufficientCPU',
      down: 'NodeNotReady',
      cordoned: 'Unschedulable',
      tainted: 'UntoleratedTaint',
      full: 'TooManyWorkloads',
      other: 'NodeSelectorMismatch',
      tight: 'InsufficientMemory',
    });
    assert.equal(d.rejections.find((r) => r.node === 'small')?.message, 'requests 1 CPU, 500m of 500m free');
    assert.equal(d.rejections.find((r) => r.node === 'tight')?.message, 'requests 16Gi memory, 8Gi of 8Gi free');
    assert.equal(summarize(d.rejections, 7).message, '0/7 nodes are available: 1 InsufficientCPU, 1 InsufficientMemory, 1 NodeNotReady, 1 NodeSelectorMismatch, 1 TooManyWorkloads, 1 Unschedulable, 1 UntoleratedTaint.');
  });

  it('honours nodeSelector, tolerations, pinning and accounted capacity', () => {
    const accounting = new NodeAccounting();
    const nodes = [node('a', { labels: { zone: 'a' } }), node('b', { labels: { zone: 'b' }, spec: { taints: [{ key: 'dedicated', effect: 'NoSchedule' }] } })];
    assert.equal((schedule(workload('s', { nodeSelector: { zone: 'b' } }), nodes, accounting) as { rejections: unknown[] }).rejections.length, 2);
    const tolerant = workload('t', { nodeSelector: { zone: 'b' }, tolerations: [{ key: 'dedicated', operator: 'Exists' }] });
    assert.deepEqual(schedule(tolerant, nodes, accounting), { node: 'b', score: (schedule(tolerant, nodes, accounting) as { score: number }).score });
    const pinned = schedule(workload('p', { nodeName: 'b' }), nodes, accounting);
    assert.ok('rejections' in pinned, 'pinned to a tainted node without toleration');
    accounting.observe('default/x', workload('x', { resources: { requests: { cpu: '4' } } }, { nodeName: 'a', phase: 'Running' }));
    const d = schedule(workload('y'), [nodes[0]!], accounting);
    assert.ok('rejections' in d && d.rejections[0]?.reason === 'InsufficientCPU');
    accounting.observe('default/x', workload('x', { resources: { requests: { cpu: '4' } } }, { nodeName: 'a', phase: 'Succeeded' }));
    assert.ok('node' in schedule(workload('y'), [nodes[0]!], accounting), 'a finished workload releases its requests');
  });

  it('drops an assumption once the cache shows the binding, without double counting', () => {
    const accounting = new NodeAccounting();
    const w = workload('w', { resources: { requests: { cpu: '1' } } });
    accounting.assume('default/w', w, 'a');
    assert.equal(accounting.used('a').milliCpu, 1000);
    accounting.observe('default/w', { ...w, status: { nodeName: 'a', phase: 'Scheduled' } });
    assert.equal(accounting.used('a').milliCpu, 1000);
    accounting.observe('default/w', undefined);
    assert.equal(accounting.used('a').milliCpu, 0);
  });

  it('keeps an assumption while its binding is in flight, and lets only its own failure undo it', () => {
    const accounting = new NodeAccounting();
    const w: Workload = { ...workload('w', { resources: { requests: { cpu: '1' } } }), metadata: { name: 'w', namespace: 'default', resourceVersion: '7' } };
    const first = accounting.assume('default/w', w, 'a');
    accounting.observe('default/w', w);
    assert.ok(accounting.isAssumed('default/w'), 'the same unbound version seen again (a relist) keeps it');
    assert.equal(accounting.used('a').milliCpu, 1000);
    accounting.observe('default/w', { ...w, metadata: { ...w.metadata, resourceVersion: '8' } });
    assert.ok(!accounting.isAssumed('default/w'), 'a newer unbound version means the binding cannot succeed');
    assert.equal(accounting.used('a').milliCpu, 0);

    const second = accounting.assume('default/w', { ...w, metadata: { ...w.metadata, resourceVersion: '8' } }, 'b');
    accounting.forget('default/w', first);
    assert.equal(accounting.used('b').milliCpu, 1000, "a stale write's failure does not undo a later decision");
    accounting.forget('default/w', second);
    assert.equal(accounting.used('b').milliCpu, 0);
    assert.equal(accounting.assumedCount, 0);
  });

  it('never gives two workloads the last slot while bindings are only assumed', () => {
    const accounting = new NodeAccounting();
    const nodes = [node('a', { workloads: 1 }), node('b', { workloads: 1 })];
    const placed: string[] = [];
    for (const name of ['x', 'y', 'z']) {
      const w = workload(name);
      const d = schedule(w, nodes, accounting);
      if ('node' in d) {
        accounting.assume(`default/${name}`, w, d.node);
        placed.push(d.node);
      } else assert.equal(summarize(d.rejections, 2).message, '0/2 nodes are available: 2 TooManyWorkloads.');
    }
    assert.deepEqual(placed.sort(), ['a', 'b']);
  });

  it('prefers nodes that already hold the image', () => {
    const d = schedule(workload('i', { image: 'busybox:1.36' }), [node('a'), node('b', { images: ['docker.io/library/busybox:1.36'] })], new NodeAccounting());
    assert.ok('node' in d && d.node === 'b');
  });

  it('matches tolerations like Kubernetes', () => {
    const taint = { key: 'k', value: 'v', effect: 'NoSchedule' as const };
    assert.ok(tolerates({ key: 'k', value: 'v' }, taint));
    assert.ok(!tolerates({ key: 'k', value: 'w' }, taint));
    assert.ok(tolerates({ operator: 'Exists' }, taint), 'empty key with Exists tolerates everything');
    assert.ok(!tolerates({ key: 'k', operator: 'Exists', effect: 'NoExecute' }, taint));
  });

  it('normalizes image references as containerd names them', () => {
    assert.equal(normalizeImage('busybox'), 'docker.io/library/busybox:latest');
    assert.equal(normalizeImage('org/app:1'), 'docker.io/org/app:1');
    assert.equal(normalizeImage('localhost:5000/shoal/busybox:1.36'), 'localhost:5000/shoal/busybox:1.36');
    assert.equal(normalizeImage('ghcr.io/a/b'), 'ghcr.io/a/b:latest');
  });

  it('parses durations', () => {
    assert.equal(parseDuration('40s'), 40_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('20ms'), 20);
    assert.throws(() => parseDuration('40'), /invalid duration/);
    assert.throws(() => parseDuration('4x0s'), /invalid duration/);
  });
});
