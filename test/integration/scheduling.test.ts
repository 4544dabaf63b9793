// The scheduler and node lifecycle end to end: the real operator process, a real kube-apiserver, and fake
// agents that register Nodes and renew Leases as the real agent does.
import assert from 'node:assert/strict';
import type { ControlPlane } from '../../hack/controlplane.ts';
import { nodeType, workloadType, type Node, type Workload } from '../../operator/src/api/generated/types.ts';
import { nodeLeaseNamespace } from '../../operator/src/controllers/names.ts';
import { findCondition } from '../../operator/src/runtime/conditions.ts';
import { Informer } from '../../operator/src/runtime/informer.ts';
import { KubeClient } from '../../operator/src/runtime/kube.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { resourcePath, type KubeList } from '../../operator/src/runtime/resource.ts';
import { ensureNamespaces, makeKubeConfig, sharedControlPlane, waitFor } from './fixture.ts';
import { FakeAgent } from './support/fake-agent.ts';
import { startOperator, type OperatorProcess } from './support/shoal-process.ts';

describe('scheduling and node lifecycle', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let client: KubeClient;
  const agents: FakeAgent[] = [];
  const operators: OperatorProcess[] = [];

  const createWorkload = (namespace: string, name: string, spec: Partial<Workload['spec']> = {}): Promise<Workload> =>
    client.request('POST', resourcePath(workloadType, namespace), {
      body: { apiVersion: 'shoal.dev/v1alpha1', kind: 'Workload', metadata: { name, namespace }, spec: { image: 'localhost:5000/shoal/busybox:1.36', ...spec } },
    });
  const list = async (namespace: string): Promise<Workload[]> => (await client.request<KubeList<Workload>>('GET', resourcePath(workloadType, namespace))).items;
  const getNode = (name: string): Promise<Node> => client.request('GET', resourcePath(nodeType, undefined, name));
  const agent = async (name: string, options: Parameters<typeof FakeAgent.start>[2]): Promise<FakeAgent> => {
    const a = await FakeAgent.start(client, name, options);
    agents.push(a);
    return a;
  };

  before(async () => {
    cp = await sharedControlPlane();
    client = KubeClient.fromKubeConfig(makeKubeConfig(cp));
    await ensureNamespaces(client, ['shoal-system', nodeLeaseNamespace, 'sched', 'lifecycle', 'burst']);
  });

  after(async () => {
    for (const a of agents) a.stop();
    await Promise.all(operators.map((op) => op.stop('SIGKILL')));
    await client.close();
  });

  describe('with one operator', () => {
    before(async () => {
      const op = await startOperator(cp, { leaseName: 'le-sched', args: ['--node-lost-grace-period=5s'] });
      operators.push(op);
      await agent('sched-a', { labels: { pool: 'sched' } });
      await agent('sched-b', { labels: { pool: 'sched' } });
    });

    it('lands 10 Workloads on 2 equal nodes 5/5', async () => {
      await Promise.all(Array.from({ length: 10 }, (_, i) => createWorkload('sched', `w${i}`, { nodeSelector: { pool: 'sched' } })));
      const bound = await waitFor(async () => {
        const items = await list('sched');
        return items.length === 10 && items.every((w) => w.status?.nodeName) && items;
      }, { what: '10 workloads bound' });
      const perNode = new Map<string, number>();
      for (const w of bound) perNode.set(w.status!.nodeName!, (perNode.get(w.status!.nodeName!) ?? 0) + 1);
      assert.deepEqual(Object.fromEntries(perNode), { 'sched-a': 5, 'sched-b': 5 });
      for (const w of bound) {
        assert.equal(w.status?.phase, 'Scheduled');
        assert.equal(findCondition(w.status?.conditions, 'Scheduled')?.status, 'True');
        assert.equal(w.status?.observedGeneration, w.metadata.generation);
      }
      await waitFor(async () => (await getNode('sched-a')).status?.workloads === 5, { what: 'Node status to account 5 workloads' });
      assert.deepEqual((await getNode('sched-a')).status?.allocated, { cpu: '500m', memory: '320Mi', workloads: 5 });
    });

    it('keeps a Workload that fits nowhere Pending with per-node reasons, and binds it when a node that fits appears', async () => {
      await createWorkload('sched', 'huge', { nodeSelector: { pool: 'sched' }, resources: { requests: { cpu: '3' } } });
      const pending = await waitFor(async () => {
        const [w] = (await list('sched')).filter((x) => x.metadata.name === 'huge');
        return w?.status?.phase === 'Pending' && w;
      }, { what: 'huge to be Pending' });
      const scheduled = findCondition(pending.status?.conditions, 'Scheduled');
      assert.equal(scheduled?.status, 'False');
      assert.equal(scheduled?.reason, 'Unschedulable');
      assert.match(scheduled?.message ?? '', /nodes are available: .*2 InsufficientCPU/);
      const reasons = Object.fromEntries((pending.status?.schedulingFailures?.nodes ?? []).map((n) => [n.node, n.reason]));
      assert.equal(reasons['sched-a'], 'InsufficientCPU');
      assert.equal(reasons['sched-b'], 'InsufficientCPU');
      assert.ok(pending.status?.schedulingFailures?.counts?.some((c) => c.reason === 'InsufficientCPU' && c.count >= 2));

      const added = performance.now();
      await agent('sched-big', { labels: { pool: 'sched' }, cpu: '4' });
      const bound = await waitFor(async () => {
        const [w] = (await list('sched')).filter((x) => x.metadata.name === 'huge');
        return w?.status?.nodeName;
      }, { what: 'huge to be bound', intervalMs: 20 });
      assert.equal(bound, 'sched-big');
      assert.ok(performance.now() - added < 5_000);
      const [w] = (await list('sched')).filter((x) => x.metadata.name === 'huge');
      assert.equal(w?.status?.schedulingFailures, undefined, 'stale rejections are cleared on binding');
    });

    it('marks a silent node NotReady (LeaseExpired) within 40 s, then fails or reschedules its Workloads', async () => {
      await agent('life-a', { labels: { pool: 'life' } });
      await agent('life-b', { labels: { pool: 'life' } });
      await createWorkload('lifecycle', 'again', { nodeSelector: { pool: 'life' }, restartPolicy: 'Always' });
      await createWorkload('lifecycle', 'once', { nodeSelector: { pool: 'life' }, restartPolicy: 'Never' });
      const placed = await waitFor(async () => {
        const items = await list('lifecycle');
        return items.length === 2 && items.every((w) => w.status?.nodeName) && items;
      }, { what: 'lifecycle workloads bound' });
      // Silence whichever node holds "again"; "once" is checked by where it landed.
      const victim = placed.find((w) => w.metadata.name === 'again')!.status!.nodeName!;
      const survivors = ['life-a', 'life-b'].filter((n) => n !== victim);
      const victimAgent = agents.find((a) => a.name === victim)!;
      victimAgent.stop();
      const stopped = performance.now();
      await waitFor(async () => findCondition((await getNode(victim)).status?.conditions, 'Ready')?.reason === 'LeaseExpired', { what: `${victim} LeaseExpired`, timeoutMs: 50_000, intervalMs: 250 });
      const notReadyAfter = performance.now() - stopped;
      assert.ok(notReadyAfter <= 40_000 + 3_000, `NotReady after ${notReadyAfter} ms`);
      assert.ok(notReadyAfter >= 36_000, `NotReady too early: ${notReadyAfter} ms`);
      console.log(`      NotReady ${Math.round(notReadyAfter)} ms after the last heartbeat stopped`);

      const again = await waitFor(async () => {
        const w = (await list('lifecycle')).find((x) => x.metadata.name === 'again');
        return w?.status?.attempt === 2 && !!w.status.nodeName && w;
      }, { what: '"again" rescheduled as attempt 2', timeoutMs: 30_000 });
      assert.deepEqual([again.status?.nodeName], survivors);
      assert.equal(again.status?.phase, 'Scheduled');
      const once = (await list('lifecycle')).find((x) => x.metadata.name === 'once')!;
      if (once.status?.nodeName === victim) {
        assert.equal(once.status?.phase, 'Failed');
        assert.equal(once.status?.reason, 'NodeLost');
      } else {
        assert.equal(once.status?.phase, 'Scheduled', 'a workload on the surviving node is untouched');
      }
    });
  });

  describe('with two operator replicas', () => {
    before(async () => {
      // Only the replicas under test may schedule: stop the single operator from above.
      await Promise.all(operators.splice(0).map((op) => op.stop('SIGTERM')));
      for (const name of ['burst-a', 'burst-b', 'burst-c']) await agent(name, { labels: { pool: 'burst' }, cpu: '64', memory: '256Gi', workloads: 500 });
    });

    it('binds every one of 200 Workloads exactly once while the leader is killed mid-burst', async () => {
      const first = await startOperator(cp, { leaseName: 'le-burst' });
      const second = await startOperator(cp, { leaseName: 'le-burst' });
      operators.push(first, second);
      const leaderOf = async (): Promise<OperatorProcess | undefined> => {
        for (const op of [first, second]) if (/^leader_election_master_status\{name="le-burst"\} 1$/m.test(await op.metrics().catch(() => ''))) return op;
        return undefined;
      };
      const leader = await waitFor(leaderOf, { what: 'a leader' });

      // Record every binding the API server ever shows for each Workload.
      const bindings = new Map<string, Set<string>>();
      const stop = new AbortController();
      const watcher = new Informer<Workload>(client, workloadType, { namespace: 'burst', logger: createLogger({}, { level: 'error' }) });
      const record = (w: Workload): void => {
        if (!w.status?.nodeName) return;
        const set = bindings.get(w.metadata.name!) ?? new Set();
        set.add(`${w.status.nodeName}#${w.status.attempt}`);
        bindings.set(w.metadata.name!, set);
      };
      watcher.addHandler({ add: record, update: (_o, w) => record(w) });
      const watching = watcher.run(stop.signal);
      try {
        for (let batch = 0; batch < 10; batch++) {
          await Promise.all(Array.from({ length: 20 }, (_, i) => createWorkload('burst', `b${batch * 20 + i}`, { nodeSelector: { pool: 'burst' } })));
          if (batch === 3) await leader.stop('SIGKILL');
        }
        await waitFor(() => bindings.size === 200, { what: 'all 200 bound', timeoutMs: 60_000, intervalMs: 200 });
        const twice = [...bindings].filter(([, set]) => set.size !== 1).map(([name, set]) => `${name}: ${[...set].join(', ')}`);
        assert.deepEqual(twice, [], 'no Workload was bound twice');
        const items = await list('burst');
        assert.equal(items.length, 200);
        assert.ok(items.every((w) => w.status?.attempt === 1 && w.status.phase === 'Scheduled'));
      } finally {
        stop.abort();
        await watching;
      }
    });
  });
});
