// Cold-pull coalescing with real agents: three nodes pull the same uncached image at the same moment, and the
// upstream registry (behind a byte-counting proxy, the only way to reach it) serves its blobs once, not 3×.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shaper } from '../../bench/shaper.ts';
import { ContainerdClient } from '../../agents/runtime/containerd/client.ts';
import type { ControlPlane } from '../../hack/controlplane.ts';
import { startNodeEnv, writeHostsToml, type NodeEnv } from '../../hack/env.ts';
import { standardImages } from '../../hack/images.ts';
import { mirrorPolicyType, nodeType, type MirrorPolicy, type Node } from '../../operator/src/api/generated/types.ts';
import { nodeLeaseNamespace } from '../../operator/src/controllers/names.ts';
import { findCondition } from '../../operator/src/runtime/conditions.ts';
import { KubeClient } from '../../operator/src/runtime/kube.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { resourcePath } from '../../operator/src/runtime/resource.ts';
import { textMetric } from '../metrics.ts';
import { ensureNamespaces, makeKubeConfig, sharedControlPlane, waitFor } from './fixture.ts';
import { startAgent, type ShoalProcess } from './support/shoal-process.ts';
import { connectNode } from './support/containerd.ts';

const quiet = createLogger({ test: 'mirror-coalescing' }, { level: 'error' });
const nodes = 3;
const label = 'e2e.shoal.dev/coalescing';

describe('cold-pull coalescing (3 agents pulling one uncached image at once)', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let client: KubeClient;
  let env: NodeEnv;
  let dir: string;
  let upstream: Shaper;
  const agents: ShoalProcess[] = [];
  const ctr: ContainerdClient[] = [];
  const nodeName = (i: number): string => `coalescing-${i}`;

  before(async () => {
    cp = await sharedControlPlane();
    client = KubeClient.fromKubeConfig(makeKubeConfig(cp));
    await ensureNamespaces(client, ['shoal-system', nodeLeaseNamespace]);
    dir = await mkdtemp(join(tmpdir(), 'shoal-coalescing-'));
    env = await startNodeEnv({ dir: join(dir, 'env'), nodes, logger: quiet });
    const [host, port] = env.registry.host.split(':');
    // Images are named after the proxy, so containerd and the agents can only reach the registry through it.
    upstream = await Shaper.start({ target: { host: host ?? '127.0.0.1', port: Number(port) } });
    for (const [i, node] of env.nodes.entries()) {
      await writeHostsToml(node.certsDir, upstream.host);
      ctr.push(await connectNode(node, quiet));
      agents.push(
        await startAgent({
          node: nodeName(i),
          kubeconfig: cp.kubeconfigPath,
          containerdAddress: node.containerd.address,
          runcRoot: node.containerd.runcRoot,
          certsDir: node.certsDir,
          stateDir: join(dir, `state-${i}`),
          labels: { [label]: 'true' },
        }),
      );
    }
    const policy: MirrorPolicy = {
      apiVersion: 'shoal.dev/v1alpha1',
      kind: 'MirrorPolicy',
      metadata: { name: 'coalescing' },
      spec: { registries: [{ host: upstream.host }], nodeSelector: { matchLabels: { [label]: 'true' } } },
    };
    await client.request('POST', resourcePath(mirrorPolicyType), { body: policy });
    for (let i = 0; i < nodes; i++) {
      await waitFor(async () => {
        const node = await client.request<Node>('GET', resourcePath(nodeType, undefined, nodeName(i)));
        return findCondition(node.status?.conditions, 'MirrorReady')?.status === 'True';
      }, { what: `${nodeName(i)} MirrorReady`, timeoutMs: 30_000 });
    }
    for (const agent of agents) await waitFor(async () => textMetric(await agent.metrics(), 'shoal_p2p_connected_peers') >= nodes - 1, { what: 'a full libp2p mesh' });
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    for (const [i, agent] of agents.entries()) console.log(`--- agent ${i} (last 30 lines)\n${agent.output().trim().split('\n').slice(-30).join('\n')}`);
  });

  after(async () => {
    await client?.request('DELETE', resourcePath(mirrorPolicyType, undefined, 'coalescing')).catch(() => undefined);
    await Promise.all(agents.map((a) => a.stop('SIGTERM')));
    for (const c of ctr) c.close();
    await upstream?.close();
    await env?.stop({ purge: true });
    await client?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('fetches each blob from upstream once, streaming it to the other nodes (≤ 1.2× the image size)', async () => {
    const ref = `${upstream.host}/${standardImages.busybox}`;
    const before = upstream.stats().bytesToClients;
    const pulled = await Promise.all(ctr.map((c) => c.cri.pullImage(ref)));
    const upstreamBytes = upstream.stats().bytesToClients - before;
    assert.equal(new Set(pulled.map((p) => p.imageRef)).size, 1, 'every node has the same image');

    const content = await ctr[0]!.content.list();
    const imageBytes = content.reduce((sum, c) => sum + c.size, 0);
    for (const c of ctr.slice(1)) assert.deepEqual((await c.content.list()).map((x) => x.digest).sort(), content.map((x) => x.digest).sort());
    const ratio = upstreamBytes / imageBytes;
    assert.ok(ratio <= 1.2, `upstream served ${upstreamBytes} bytes for a ${imageBytes}-byte image on ${nodes} nodes (${ratio.toFixed(2)}×)`);

    const metrics = await Promise.all(agents.map((a) => a.metrics()));
    const fetched = metrics.map((m) => textMetric(m, 'shoal_mirror_upstream_bytes_total'));
    assert.ok(fetched.reduce((a, b) => a + b, 0) > 0, 'the agents fetched the blobs upstream on behalf of containerd');
    assert.ok(metrics.some((m) => textMetric(m, 'shoal_mirror_requests_total', { cache: 'hit', source: 'external' }) > 0), 'an owner streamed a blob to a peer');
  });
});
