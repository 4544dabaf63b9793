// The P2P mirror end to end, as users run it: the real operator and two real agent processes, each with its
// own containerd, a MirrorPolicy applied through the API server, and the registry stopped half-way. Node B
// pulls through containerd → hosts.toml → its agent → the DHT → node A's peer listener, and runs a Workload.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { Registry as MetricsRegistry } from 'prom-client';
import { PeerDirectory } from '../../agents/mirror/p2p/directory.ts';
import { P2PNode } from '../../agents/mirror/p2p/node.ts';
import { PeerSigner } from '../../agents/mirror/peer-auth.ts';
import { ContainerdClient } from '../../agents/runtime/containerd/client.ts';
import type { ControlPlane } from '../../hack/controlplane.ts';
import { startNodeEnv, type NodeEnv } from '../../hack/env.ts';
import { standardImages } from '../../hack/images.ts';
import { mirrorPolicyType, nodeType, workloadType, type MirrorPolicy, type Node, type Workload } from '../../operator/src/api/generated/types.ts';
import { nodeLeaseNamespace } from '../../operator/src/controllers/names.ts';
import { findCondition } from '../../operator/src/runtime/conditions.ts';
import { KubeClient } from '../../operator/src/runtime/kube.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { resourcePath } from '../../operator/src/runtime/resource.ts';
import { textMetric } from '../metrics.ts';
import { ensureNamespaces, makeKubeConfig, repoRoot, sharedControlPlane, waitFor } from './fixture.ts';
import { startAgent, startOperator, type ShoalProcess } from './support/shoal-process.ts';
import { connectNode } from './support/containerd.ts';

const quiet = createLogger({ test: 'mirror-e2e' }, { level: 'error' });
const mirrorLabel = 'e2e.shoal.dev/mirror';

describe('P2P mirror end to end (operator + 2 agents + MirrorPolicy)', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let client: KubeClient;
  let env: NodeEnv;
  let dir: string;
  let operator: ShoalProcess;
  const agents: ShoalProcess[] = [];
  const ctr: ContainerdClient[] = [];
  const ns = 'mirror-e2e';
  const nodeName = (i: number): string => `mirror-e2e-${i}`;
  let hostsPathA: string;
  let originalHostsA: Buffer;
  let hostsPathB: string;
  let originalHostsB: Buffer;

  const getNode = (i: number): Promise<Node> => client.request('GET', resourcePath(nodeType, undefined, nodeName(i)));
  const getWorkload = (name: string): Promise<Workload> => client.request('GET', resourcePath(workloadType, ns, name));
  const image = (repo: string): string => `${env.registry.host}/${repo}`;
  const condition = async (i: number, type: string): Promise<string> => {
    const c = findCondition((await getNode(i)).status?.conditions, type);
    return c ? `${c.status}/${c.reason}` : 'absent';
  };
  const runOn = (i: number, name: string, repo: string): Promise<Workload> =>
    client.request('POST', resourcePath(workloadType, ns), {
      body: {
        apiVersion: 'shoal.dev/v1alpha1',
        kind: 'Workload',
        metadata: { name, namespace: ns },
        spec: { image: image(repo), command: ['sh', '-c', 'echo served by a peer'], restartPolicy: 'Never', nodeSelector: { [mirrorLabel]: String(i) } },
      },
    });

  before(async () => {
    cp = await sharedControlPlane();
    client = KubeClient.fromKubeConfig(makeKubeConfig(cp));
    await ensureNamespaces(client, ['shoal-system', nodeLeaseNamespace, ns]);
    dir = await mkdtemp(join(tmpdir(), 'shoal-mirror-e2e-'));
    env = await startNodeEnv({ dir: join(dir, 'env'), nodes: 2, logger: quiet });
    hostsPathA = join(env.nodes[0]!.certsDir, env.registry.host, 'hosts.toml');
    originalHostsA = await readFile(hostsPathA);
    hostsPathB = join(env.nodes[1]!.certsDir, env.registry.host, 'hosts.toml');
    originalHostsB = await readFile(hostsPathB);
    for (const node of env.nodes) ctr.push(await connectNode(node, quiet));
    operator = await startOperator(cp, { leaseName: 'le-mirror-e2e' });
    for (const [i, node] of env.nodes.entries()) {
      agents.push(
        await startAgent({
          node: nodeName(i),
          kubeconfig: cp.kubeconfigPath,
          containerdAddress: node.containerd.address,
          runcRoot: node.containerd.runcRoot,
          certsDir: node.certsDir,
          stateDir: join(dir, `state-${i}`),
          labels: { [mirrorLabel]: String(i) },
        }),
      );
    }
    const policy: MirrorPolicy = {
      apiVersion: 'shoal.dev/v1alpha1',
      kind: 'MirrorPolicy',
      metadata: { name: 'mirror-e2e' },
      spec: { registries: [{ host: env.registry.host }], nodeSelector: { matchExpressions: [{ key: mirrorLabel, operator: 'Exists' }] } },
    };
    await client.request('POST', resourcePath(mirrorPolicyType), { body: policy });
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    for (const [i, agent] of agents.entries()) console.log(`--- agent ${i} (last 30 lines)\n${agent.output().trim().split('\n').slice(-30).join('\n')}`);
  });

  after(async () => {
    await client?.request('DELETE', resourcePath(mirrorPolicyType, undefined, 'mirror-e2e')).catch(() => undefined);
    await Promise.all(agents.map((a) => a.stop('SIGTERM')));
    await operator?.stop('SIGTERM');
    for (const c of ctr) c.close();
    await env?.stop({ purge: true });
    await client?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('makes both nodes MirrorReady, publishing peer IDs and peer endpoints, and connects them over libp2p', async () => {
    for (const i of [0, 1]) await waitFor(async () => (await condition(i, 'MirrorReady')) === 'True/MirrorServing', { what: `node ${i} MirrorReady`, timeoutMs: 30_000 });
    const [a, b] = [await getNode(0), await getNode(1)];
    assert.match(a.status?.peer?.id ?? '', /^12D3KooW/, 'an Ed25519 peer ID');
    assert.notEqual(a.status?.peer?.id, b.status?.peer?.id);
    assert.ok((a.status?.peer?.addresses ?? []).length > 0);
    assert.match(a.status?.mirror?.endpoint ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    for (const agent of agents) await waitFor(async () => textMetric(await agent.metrics(), 'shoal_p2p_connected_peers') >= 1, { what: 'libp2p connected to the other member' });
    const hosts = await readFile(hostsPathB, 'latin1');
    assert.ok(hosts.indexOf('shoal mirror') < hosts.indexOf('[host.'), 'our mirror block is the first host in hosts.toml');
    assert.ok(hosts.includes(originalHostsB.toString('latin1').trim().split('\n').at(-1) ?? '\0'), 'the original entries are kept');
  });

  it('serves node B from node A with the registry stopped, and B runs a Workload from that image', async () => {
    // Node A pulls from the registry (through its own mirror: a miss, so containerd goes upstream).
    const ref = image(standardImages.busybox);
    await ctr[0]!.cri.pullImage(ref);
    const digests = (await ctr[0]!.content.list()).map((c) => c.digest);
    await waitFor(async () => ((await getNode(0)).status?.mirror?.advertisedImages ?? 0) >= 1, { what: 'node A to advertise the image', timeoutMs: 60_000 });
    await waitFor(async () => ((await getNode(0)).status?.images ?? []).some((i) => (i.names ?? []).includes(ref)), { what: 'node A to list the image for image locality' });
    await env.registry.stop();

    await runOn(1, 'from-peer', standardImages.busybox);
    const done = await waitFor(async () => {
      const w = await getWorkload('from-peer');
      return (w.status?.phase === 'Succeeded' || w.status?.phase === 'Failed') && w;
    }, { what: 'the Workload on node B to finish', timeoutMs: 90_000 });
    assert.equal(done.status?.phase, 'Succeeded', JSON.stringify(done.status));
    assert.equal(done.status?.nodeName, nodeName(1));
    const onB = new Set((await ctr[1]!.content.list()).map((c) => c.digest));
    for (const digest of digests) assert.ok(onB.has(digest), `${digest} reached node B`);
    const [metricsA, metricsB] = [await agents[0]!.metrics(), await agents[1]!.metrics()];
    assert.ok(textMetric(metricsA, 'shoal_mirror_requests_total', { cache: 'hit', source: 'external' }) >= 3, 'node A served manifest, config and layers to a peer');
    assert.ok(textMetric(metricsB, 'shoal_mirror_peer_bytes_total') > 0, 'node B received bytes from a peer');
    assert.ok(textMetric(metricsB, 'shoal_mirror_resolve_duration_seconds_count', { result: 'found' }) >= 1, 'node B found the provider in the DHT');
  });

  it('fails an image no node holds fast with a clear pull error (no hidden upstream)', async () => {
    const began = Date.now();
    await runOn(1, 'nobody-has-it', standardImages.sleeper);
    const w = await waitFor(async () => {
      const x = await getWorkload('nobody-has-it');
      return findCondition(x.status?.conditions, 'ImagePulled')?.status === 'False' && x;
    }, { what: 'ImagePulled=False', timeoutMs: 30_000 });
    assert.ok(Date.now() - began < 15_000, `failed after ${Date.now() - began} ms`);
    assert.match(w.status?.reason ?? '', /ErrImagePull|ImagePullBackOff/);
    assert.match(findCondition(w.status?.conditions, 'ImagePulled')?.message ?? '', /shoal\/sleeper/);
  });

  it('refuses a libp2p identity that is not a Node of the cluster, on the DHT and on the peer listener', async () => {
    const a = await getNode(0);
    const outsiderKey = await generateKeyPair('Ed25519');
    const directory = new PeerDirectory();
    directory.set({ nodeName: nodeName(0), peerId: a.status!.peer!.id!, addresses: a.status!.peer!.addresses!, ready: true });
    const outsider = new P2PNode({ identity: { privateKey: outsiderKey, peerId: peerIdFromPrivateKey(outsiderKey) }, listen: ['/ip4/127.0.0.1/tcp/0'], directory, logger: quiet, metrics: new MetricsRegistry() });
    await outsider.start();
    try {
      const address = multiaddr(`${a.status!.peer!.addresses![0]!}/p2p/${a.status!.peer!.id!}`);
      // Node A's gater closes the connection right after the handshake; a ping must never get through.
      const pinged = await outsider.libp2p.services.ping.ping(address, { signal: AbortSignal.timeout(5_000) }).then(() => true, () => false);
      assert.equal(pinged, false, 'a non-member reached node A over libp2p');
      await waitFor(async () => textMetric(await agents[0]!.metrics(), 'shoal_p2p_refused_connections_total') >= 1, { what: 'node A to count the refusal' });
    } finally {
      await outsider.stop();
    }
    const blob = (await ctr[0]!.content.list())[0]!.digest;
    const target = `/v2/shoal/peer/blobs/${blob}`;
    const signer = new PeerSigner(outsiderKey);
    const response = await fetch(`${a.status!.mirror!.endpoint!}${target}`, { headers: { authorization: await signer.authorization('GET', target, a.status!.peer!.id!) } });
    assert.equal(response.status, 403, 'a signed request from a non-member is refused');
    const anonymous = await fetch(`${a.status!.mirror!.endpoint!}${target}`);
    assert.equal(anonymous.status, 401, 'an unsigned request is refused');
  });

  it('uninstall: a stopped agent leaves hosts.toml alone, and `shoal agent-cleanup` gives back the original byte for byte', async () => {
    assert.equal(await agents[0]!.stop('SIGTERM'), 0);
    assert.notDeepEqual(await readFile(hostsPathA), originalHostsA, 'a restart must not flap the mirror config');
    const cleanup = spawnSync(process.execPath, [join(repoRoot, 'bin/shoal.ts'), 'agent-cleanup', `--containerd-config-path=${env.nodes[0]!.certsDir}`], { encoding: 'utf8' });
    assert.equal(cleanup.status, 0, cleanup.stderr + cleanup.stdout);
    assert.deepEqual(await readFile(hostsPathA), originalHostsA);
  });

  it('gives back the original hosts.toml byte for byte when the policy goes away', async () => {
    await client.request('DELETE', resourcePath(mirrorPolicyType, undefined, 'mirror-e2e'));
    await waitFor(async () => (await readFile(hostsPathB)).equals(originalHostsB), { what: "node B's hosts.toml restored", timeoutMs: 30_000 });
    await waitFor(async () => (await condition(1, 'MirrorReady')) === 'False/NoPolicy', { what: 'MirrorReady False/NoPolicy' });
  });
});
