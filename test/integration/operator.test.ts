// The operator binary end to end against a real kube-apiserver: leader election across two processes,
// probes and metrics, and the MirrorPolicy controller's level-based status.
import assert from 'node:assert/strict';
import type { ControlPlane } from '../../hack/controlplane.ts';
import { mirrorPolicyType, nodeType, type MirrorPolicy, type Node } from '../../operator/src/api/generated/types.ts';
import { findCondition } from '../../operator/src/runtime/conditions.ts';
import { ContentType, KubeClient } from '../../operator/src/runtime/kube.ts';
import type { Lease } from '../../operator/src/runtime/leader.ts';
import { coreTypes, resourcePath } from '../../operator/src/runtime/resource.ts';
import { ensureNamespaces, makeKubeConfig, sharedControlPlane, waitFor } from './fixture.ts';
import { startOperator, type OperatorProcess } from './support/shoal-process.ts';

const leaderGauge = (name: string): RegExp => new RegExp(`^leader_election_master_status\\{name="${name}"\\} (\\d)$`, 'm');

describe('operator process', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let client: KubeClient;
  const running: OperatorProcess[] = [];

  before(async () => {
    cp = await sharedControlPlane();
    client = KubeClient.fromKubeConfig(makeKubeConfig(cp));
    await ensureNamespaces(client, ['shoal-system']);
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    for (const op of running) console.log(`--- ${op.metricsUrl} (last 30 lines)\n${op.output().trim().split('\n').slice(-30).join('\n')}`);
  });

  after(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    await client.close();
  });

  async function start(leaseName: string): Promise<OperatorProcess> {
    const op = await startOperator(cp, { leaseName });
    running.push(op);
    return op;
  }

  const holder = async (leaseName: string): Promise<string> => {
    const lease = await client.request<Lease>('GET', resourcePath(coreTypes.lease, 'shoal-system', leaseName)).catch(() => undefined);
    return lease?.spec?.holderIdentity ?? '';
  };
  const isLeader = async (op: OperatorProcess, leaseName: string): Promise<boolean> =>
    leaderGauge(leaseName).exec(await op.metrics().catch(() => ''))?.[1] === '1';
  const podName = (op: OperatorProcess): string => `operator-${new URL(op.metricsUrl).port}_`;

  async function electedPair(leaseName: string): Promise<{ leader: OperatorProcess; follower: OperatorProcess }> {
    const a = await start(leaseName);
    const b = await start(leaseName);
    const leaderId = await waitFor(async () => (await holder(leaseName)) || undefined, { what: 'a lease holder', timeoutMs: 30_000 });
    const [leader, follower] = leaderId.startsWith(podName(a)) ? [a, b] : [b, a];
    await waitFor(() => isLeader(leader, leaseName), { what: 'the leader to report leader_election_master_status 1' });
    await waitFor(async () => leaderGauge(leaseName).exec(await follower.metrics())?.[1] === '0', { what: 'the follower to report 0' });
    return { leader, follower };
  }

  it('elects one leader of two replicas; SIGTERM releases the lease and the other takes over within 15 s', async () => {
    const { leader, follower } = await electedPair('le-graceful');
    const killed = performance.now();
    assert.equal(await leader.stop('SIGTERM'), 0, `clean exit; output:\n${leader.output().slice(-2000)}`);
    await waitFor(() => isLeader(follower, 'le-graceful'), { what: 'the follower to lead', timeoutMs: 15_000, intervalMs: 50 });
    const handoverMs = performance.now() - killed;
    assert.ok(handoverMs < 15_000, `handover took ${handoverMs} ms`);
    assert.match(leader.output(), /"msg":"released leader lease"/);
    console.log(`      graceful handover: ${Math.round(handoverMs)} ms`);
  });

  it('after SIGKILL of the leader, the follower takes over once the 15 s lease expires', async () => {
    const { leader, follower } = await electedPair('le-crash');
    await leader.stop('SIGKILL');
    const killed = performance.now();
    await waitFor(() => isLeader(follower, 'le-crash'), { what: 'the follower to lead', timeoutMs: 25_000, intervalMs: 100 });
    const handoverMs = performance.now() - killed;
    // Expiry is judged from the follower's own observation (skew-safe, as client-go): at most lease + 2 retry periods.
    assert.ok(handoverMs <= 15_000 + 2 * 2_400, `handover took ${handoverMs} ms`);
    assert.ok(handoverMs >= 10_000, `took over after ${handoverMs} ms, before the lease could have expired`);
    assert.ok((await holder('le-crash')).startsWith(podName(follower)));
    console.log(`      crash handover: ${Math.round(handoverMs)} ms`);
  });

  describe('MirrorPolicy controller', () => {
    const registry = 'it.example:5000';
    const policy = (name: string, hosts: string[]): MirrorPolicy => ({
      apiVersion: 'shoal.dev/v1alpha1',
      kind: 'MirrorPolicy',
      metadata: { name },
      spec: { registries: hosts.map((host) => ({ host })), nodeSelector: { matchLabels: { 'it.shoal.dev/mirror': 'on' } } },
    });
    const get = (name: string): Promise<MirrorPolicy> => client.request('GET', resourcePath(mirrorPolicyType, undefined, name));
    const condition = async (name: string, type: string): Promise<string> => {
      const p = await get(name);
      const c = findCondition(p.status?.conditions, type);
      return c && p.status?.observedGeneration === p.metadata.generation ? `${c.status}/${c.reason}` : 'unobserved';
    };

    before(async function () {
      const op = await start('le-mirrorpolicy');
      await waitFor(() => isLeader(op, 'le-mirrorpolicy'), { what: 'leadership' });
    });

    it('accepts a valid policy and reports that no node is selected yet', async () => {
      await client.request('POST', resourcePath(mirrorPolicyType), { body: policy('it-a', [registry]) });
      await waitFor(async () => (await condition('it-a', 'Ready')) === 'False/NoNodesSelected', { what: 'Ready=False/NoNodesSelected' });
      const p = await get('it-a');
      assert.equal(findCondition(p.status?.conditions, 'Accepted')?.status, 'True');
      assert.equal(p.status?.observedGeneration, 1);
      assert.equal(p.status?.nodesSelected, 0);
      assert.equal(p.status?.registries, registry);
    });

    it('follows selected nodes and their MirrorReady condition', async () => {
      const node: Node = { apiVersion: 'shoal.dev/v1alpha1', kind: 'Node', metadata: { name: 'it-node-1', labels: { 'it.shoal.dev/mirror': 'on' } }, spec: {} };
      await client.request('POST', resourcePath(nodeType), { body: node });
      await waitFor(async () => (await condition('it-a', 'Ready')) === 'False/NodesNotReady', { what: 'Ready=False/NodesNotReady' });
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      await client.request('PATCH', resourcePath(nodeType, undefined, 'it-node-1', 'status'), {
        contentType: ContentType.mergePatch,
        body: { status: { conditions: [{ type: 'MirrorReady', status: 'True', reason: 'Serving', message: 'test', lastTransitionTime: now }] } },
      });
      await waitFor(async () => (await condition('it-a', 'Ready')) === 'True/MirrorsReady', { what: 'Ready=True' });
      assert.equal((await get('it-a')).status?.nodesReady, 1);
    });

    it('rejects a newer policy that mirrors the same registry on the same nodes, until its spec changes', async () => {
      await client.request('POST', resourcePath(mirrorPolicyType), { body: policy('it-b', [registry]) });
      await waitFor(async () => (await condition('it-b', 'Accepted')) === 'False/Conflict', { what: 'it-b Accepted=False/Conflict' });
      assert.match(findCondition((await get('it-b')).status?.conditions, 'Accepted')?.message ?? '', /MirrorPolicy it-a/);
      assert.equal(await condition('it-a', 'Accepted'), 'True/Valid', 'the older policy keeps working');
      await client.request('PATCH', resourcePath(mirrorPolicyType, undefined, 'it-b'), {
        contentType: ContentType.mergePatch,
        body: { spec: { registries: [{ host: 'other.example' }] } },
      });
      await waitFor(async () => (await condition('it-b', 'Accepted')) === 'True/Valid', { what: 'it-b accepted after the edit' });
      assert.equal((await get('it-b')).status?.observedGeneration, 2);
    });

    it('writes status only when it changes', async () => {
      const before = (await get('it-a')).metadata.resourceVersion;
      const reconciles = async (): Promise<number> => {
        const text = await running.at(-1)!.metrics();
        return Number(/^controller_runtime_reconcile_total\{controller="mirrorpolicy",result="success"\} (\d+)/m.exec(text)?.[1] ?? 0);
      };
      const count = await reconciles();
      // An unrelated node change re-evaluates every policy; nothing it reports changes.
      await client.request('POST', resourcePath(nodeType), { body: { apiVersion: 'shoal.dev/v1alpha1', kind: 'Node', metadata: { name: 'it-unrelated' }, spec: {} } });
      await waitFor(async () => (await reconciles()) > count, { what: 'policies to be reconciled again' });
      assert.equal((await get('it-a')).metadata.resourceVersion, before);
    });

    it('serves /healthz, /readyz and controller-runtime metrics', async () => {
      const op = running.at(-1)!;
      for (const probe of ['/healthz', '/readyz']) {
        const res = await fetch(op.healthUrl + probe);
        assert.equal(res.status, 200, probe);
        assert.equal(await res.text(), 'ok\n');
      }
      const text = await op.metrics();
      for (const series of [
        /^controller_runtime_reconcile_total\{controller="mirrorpolicy",result="success"\} \d+/m,
        /^controller_runtime_reconcile_total\{controller="mirrorpolicy",result="error"\} \d+/m,
        /^controller_runtime_reconcile_time_seconds_bucket\{le="0\.005",controller="mirrorpolicy"\}/m,
        /^controller_runtime_max_concurrent_reconciles\{controller="mirrorpolicy"\} 1$/m,
        /^controller_runtime_active_workers\{controller="mirrorpolicy"\} \d+$/m,
        /^workqueue_depth\{name="mirrorpolicy",controller="mirrorpolicy"\} \d+$/m,
        /^workqueue_adds_total\{name="mirrorpolicy",controller="mirrorpolicy"\} \d+$/m,
        /^workqueue_retries_total\{name="mirrorpolicy",controller="mirrorpolicy"\} \d+$/m,
        /^workqueue_queue_duration_seconds_bucket\{/m,
        /^workqueue_work_duration_seconds_bucket\{/m,
        /^workqueue_unfinished_work_seconds\{name="mirrorpolicy",controller="mirrorpolicy"\}/m,
        /^workqueue_longest_running_processor_seconds\{/m,
        leaderGauge('le-mirrorpolicy'),
        /^leader_election_slowpath_total\{name="le-mirrorpolicy"\} \d+$/m,
        /^process_resident_memory_bytes \d+/m,
      ]) {
        assert.match(text, series);
      }
    });
  });
});
