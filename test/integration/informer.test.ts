// The informer against a real kube-apiserver: it must survive the API server process restarting, and a
// 410 relist must not miss a delete that happened while it could not watch.
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, installCRDs } from '../../hack/controlplane.ts';
import { nodeType, type Node } from '../../operator/src/api/generated/types.ts';
import { Informer } from '../../operator/src/runtime/informer.ts';
import { KubeClient } from '../../operator/src/runtime/kube.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { RuntimeMetrics } from '../../operator/src/runtime/metrics.ts';
import { resourcePath } from '../../operator/src/runtime/resource.ts';
import { makeKubeConfig, repoRoot, waitFor } from './fixture.ts';

describe('informer against a real kube-apiserver', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let client: KubeClient;
  let informer: Informer<Node>;
  let metrics: RuntimeMetrics;
  const stop = new AbortController();
  const events: string[] = [];
  let running: Promise<void>;

  const node = (name: string): Node => ({ apiVersion: 'shoal.dev/v1alpha1', kind: 'Node', metadata: { name }, spec: {} });
  const create = (c: KubeClient, name: string): Promise<Node> => c.request('POST', resourcePath(nodeType), { body: node(name) });
  const remove = (c: KubeClient, name: string): Promise<unknown> => c.request('DELETE', resourcePath(nodeType, undefined, name));
  const cached = (): string[] => informer.list().map((n) => n.metadata.name ?? '').sort();
  const restarts = async (reason: string): Promise<number> => {
    const metric = await metrics.informerRestarts.get();
    return metric.values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
  };

  before(async () => {
    // Its own control plane: these tests stop the API server, which would disturb the shared one.
    cp = await ControlPlane.start({ dir: await mkdtemp(join(tmpdir(), 'shoal-informer-')) });
    await installCRDs(cp, join(repoRoot, 'crds'));
    client = KubeClient.fromKubeConfig(makeKubeConfig(cp));
    metrics = new RuntimeMetrics({ processMetrics: false });
    informer = new Informer<Node>(client, nodeType, {
      logger: createLogger({ test: 'informer' }, { level: 'warn' }),
      metrics,
      backoff: { initialMs: 200, maxMs: 2_000 },
    });
    informer.addHandler({
      add: (n) => events.push(`add ${n.metadata.name}`),
      delete: (n) => events.push(`delete ${n.metadata.name}`),
    });
    await create(client, 'node-a');
    await create(client, 'node-b');
    running = informer.run(stop.signal);
    assert.ok(await informer.waitForSync(stop.signal));
    assert.deepEqual(cached(), ['node-a', 'node-b']);
  });

  after(async () => {
    stop.abort();
    await running;
    await client?.close();
    await cp?.stop();
    await rm(cp.dir, { recursive: true, force: true });
  });

  it('sees changes made after the API server process is stopped and started again', async () => {
    await cp.stopApiserver();
    await cp.startApiserver();
    await create(client, 'node-c');
    await remove(client, 'node-a');
    await waitFor(() => cached().join() === 'node-b,node-c', { what: 'the cache to follow the restarted server', timeoutMs: 60_000 });
    assert.ok(events.includes('add node-c'));
    assert.ok(events.includes('delete node-a'));
  });

  it('relists after 410 Gone and emits the delete it could not watch', async () => {
    const expiredBefore = await restarts('expired');
    const other = await cp.startExtraApiserver();
    const otherConfig = new KubeConfig();
    otherConfig.loadFromFile(other.kubeconfigPath);
    const otherClient = KubeClient.fromKubeConfig(otherConfig);
    try {
      await cp.stopApiserver();
      // While our informer's server is down, another API server on the same etcd changes the state.
      await remove(otherClient, 'node-b');
      await create(otherClient, 'node-d');
      for (let i = 0; i < 5; i++) {
        await create(otherClient, `churn-${i}`);
        await remove(otherClient, `churn-${i}`);
      }
      await cp.startApiserver();
      await waitFor(() => cached().join() === 'node-c,node-d', { what: 'the cache to match the server after relist', timeoutMs: 60_000 });
      assert.ok(events.includes('delete node-b'), `events: ${events.join(', ')}`);
      assert.ok(!events.some((e) => e.includes('churn')), 'objects created and deleted while away are never seen');
      assert.ok((await restarts('expired')) > expiredBefore, 'the watch resumed from an expired resourceVersion and relisted');
    } finally {
      await otherClient.close();
      await other.stop();
    }
  });
});
