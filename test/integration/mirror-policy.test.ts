// A MirrorPolicy reaching a node, end to end on real parts: kube-apiserver (fixture), containerd 1.6 with CRI
// and a seeded registry (hack/env.ts), the agent's mirror policy stack and status reporter in this process
// (as agents/main.ts runs them), and the operator's MirrorPolicy controller aggregating the policy status.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry as MetricsRegistry } from 'prom-client';
import { ContainerdSource } from '../../agents/mirror/containerd-source.ts';
import { startMirrorPolicyAgent } from '../../agents/mirror/policy-agent.ts';
import { MirrorServer } from '../../agents/mirror/server.ts';
import { ImageInventory } from '../../agents/node/image-inventory.ts';
import { ensureNode, type NodeIdentity } from '../../agents/node/registration.ts';
import { runStatusReporter } from '../../agents/node/status-reporter.ts';
import { ContainerdClient } from '../../agents/runtime/containerd/client.ts';
import { Containerd } from '../../hack/containerd.ts';
import type { ControlPlane } from '../../hack/controlplane.ts';
import { startNodeEnv, type NodeEnv } from '../../hack/env.ts';
import { standardImages, type SeededImage } from '../../hack/images.ts';
import { normalizeImage } from '../../operator/src/api/image-ref.ts';
import { mirrorPolicyType, nodeType, type MirrorPolicy, type Node } from '../../operator/src/api/generated/types.ts';
import { mirrorPolicyController } from '../../operator/src/controllers/mirrorpolicy.ts';
import { findCondition } from '../../operator/src/runtime/conditions.ts';
import { ContentType, KubeClient } from '../../operator/src/runtime/kube.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { Manager } from '../../operator/src/runtime/manager.ts';
import { resourcePath } from '../../operator/src/runtime/resource.ts';
import { makeKubeConfig, sharedControlPlane, waitFor } from './fixture.ts';

const logger = createLogger({ test: 'mirror-policy' }, { level: process.env['SHOAL_TEST_LOG'] ? 'debug' : 'warn' });
const selectorLabel = 'mp.shoal.dev/mirror';

interface AgentStack {
  name: string;
  metrics: MetricsRegistry;
  mirrorUrl: string;
  stop(): Promise<void>;
}

describe('MirrorPolicy on a real node (containerd + registry + API server)', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let admin: KubeClient;
  let dir: string;
  let env: NodeEnv;
  let busybox: SeededImage;
  let hostsPath: string;
  let original: Buffer;
  const stacks: AgentStack[] = [];
  const extraContainerds: Containerd[] = [];
  const operator = new AbortController();
  let operatorDone: Promise<void> | undefined;

  /** The agent's pieces as agents/main.ts wires them, minus heartbeat and workloads. */
  async function startAgentStack(name: string, labels: Record<string, string>, address: string, certsDir: string): Promise<AgentStack> {
    const client = KubeClient.fromKubeConfig(makeKubeConfig(cp));
    const log = logger.child({ node: name });
    const manager = new Manager({ client, logger: log });
    const containerd = await ContainerdClient.connect({ address, namespace: 'k8s.io', logger: log });
    const identity: NodeIdentity = { name, labels, maxWorkloads: 10, agentVersion: 'test' };
    await ensureNode(client, identity);
    const metrics = new MetricsRegistry();
    const server = new MirrorServer({ sources: [new ContainerdSource({ client: containerd, logger: log })], logger: log, metrics });
    const port = await server.listen(0, '127.0.0.1');
    const mirrorUrl = `http://127.0.0.1:${port}`;
    const mirror = startMirrorPolicyAgent({
      manager,
      node: name,
      containerd,
      certsDir,
      runtime: { servingProblem: () => undefined, endpoint: () => mirrorUrl },
      mirrorUrl: () => mirrorUrl,
      logger: log,
      metrics,
      preheatRetry: { initialMs: 500, maxMs: 5_000 },
    });
    const images = new ImageInventory({ containerd, logger: log, metrics, debounceMs: 200 });
    const reporter = runStatusReporter({ client, manager, identity, containerd, logger: log, mirror: mirror.status, images });
    manager.addRunnable(mirror.run);
    manager.addRunnable((signal) => images.run(signal));
    manager.addRunnable(reporter.run);
    const stop = new AbortController();
    const done = manager.start(stop.signal);
    const stack: AgentStack = {
      name,
      metrics,
      mirrorUrl,
      async stop() {
        stop.abort();
        await done.catch(() => undefined);
        await server.close(0);
        containerd.close();
        await client.close();
      },
    };
    stacks.push(stack);
    return stack;
  }

  const getNode = (name: string): Promise<Node> => admin.request('GET', resourcePath(nodeType, undefined, name));
  const getPolicy = (name: string): Promise<MirrorPolicy> => admin.request('GET', resourcePath(mirrorPolicyType, undefined, name));
  const mirrorReady = async (name: string): Promise<string> => {
    const c = findCondition((await getNode(name)).status?.conditions, 'MirrorReady');
    return c ? `${c.status}/${c.reason}` : 'absent';
  };
  const setLabel = (name: string, value: string | null): Promise<unknown> =>
    admin.request('PATCH', resourcePath(nodeType, undefined, name), { contentType: ContentType.mergePatch, body: { metadata: { labels: { [selectorLabel]: value } } } });
  const policyBody = (name: string): MirrorPolicy => ({
    apiVersion: 'shoal.dev/v1alpha1',
    kind: 'MirrorPolicy',
    metadata: { name },
    spec: { registries: [{ host: env.registry.host }], nodeSelector: { matchLabels: { [selectorLabel]: 'on' } }, preheat: [busybox.ref], tags: { resolve: false } },
  });
  const mirrorRequests = async (stack: AgentStack): Promise<number> =>
    (await stack.metrics.metrics())
      .split('\n')
      .filter((line) => line.startsWith('shoal_mirror_requests_total{'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);

  before(async () => {
    cp = await sharedControlPlane();
    admin = KubeClient.fromKubeConfig(makeKubeConfig(cp));
    dir = await mkdtemp(join(tmpdir(), 'shoal-mirror-policy-'));
    env = await startNodeEnv({ dir, nodes: 1, logger });
    const seeded = env.images[standardImages.busybox];
    assert.ok(seeded);
    busybox = seeded;
    const node = env.nodes[0];
    assert.ok(node);
    hostsPath = join(node.certsDir, env.registry.host, 'hosts.toml');
    original = await readFile(hostsPath);
    const opManager = new Manager({ client: KubeClient.fromKubeConfig(makeKubeConfig(cp)), logger: logger.child({ component: 'operator' }) });
    mirrorPolicyController(opManager);
    operatorDone = opManager.start(operator.signal);
  });

  after(async () => {
    await Promise.all(stacks.map((s) => s.stop()));
    operator.abort();
    await operatorDone?.catch(() => undefined);
    await Promise.all(extraContainerds.map((c) => c.stop()));
    for (const name of ['mp-e2e', 'mp-fail']) await admin?.request('DELETE', resourcePath(mirrorPolicyType, undefined, name)).catch(() => undefined);
    await admin?.close();
    await env?.stop({ purge: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports MirrorReady=False/NoPolicy on a well-configured node no policy selects', async () => {
    const node = env.nodes[0]!;
    await startAgentStack('mp-node-0', {}, node.containerd.address, node.certsDir);
    await waitFor(async () => (await mirrorReady('mp-node-0')) === 'False/NoPolicy', { what: 'MirrorReady=False/NoPolicy', timeoutMs: 10_000 });
    assert.ok((await readFile(hostsPath)).equals(original), 'hosts.toml untouched without a policy');
  });

  it('installs hosts.toml, preheats through the mirror, and reports the image on the Node and the MirrorPolicy', async () => {
    await admin.request('POST', resourcePath(mirrorPolicyType), { body: policyBody('mp-e2e') });
    await setLabel('mp-node-0', 'on');
    const stack = stacks.find((s) => s.name === 'mp-node-0')!;

    // hosts.toml: our mirror first, the file's own content (comment, server, registry host) kept.
    const installed = await waitFor(async () => {
      const text = await readFile(hostsPath, 'latin1');
      return text.includes(stack.mirrorUrl) && text;
    }, { what: 'the mirror in hosts.toml', timeoutMs: 10_000 });
    assert.ok(installed.indexOf(`[host."${stack.mirrorUrl}"]`) < installed.indexOf(`[host."http://${env.registry.host}"]`), 'the mirror is tried first');
    assert.match(installed, /capabilities = \["pull"\]\n/, 'tags.resolve=false: the mirror may not resolve tags');
    assert.equal(installed.replace(/# >>> shoal mirror[^]*?# <<< shoal mirror <<<\n/, ''), original.toString('latin1'), 'every other byte kept');

    await waitFor(async () => (await mirrorReady('mp-node-0')) === 'True/MirrorServing', { what: 'MirrorReady=True', timeoutMs: 15_000 });

    // Preheat: pulled through CRI → hosts.toml → our mirror (a miss: nobody holds it yet) → the registry.
    const node = await waitFor(async () => {
      const n = await getNode('mp-node-0');
      const entry = n.status?.mirror?.preheat?.find((p) => p.image === busybox.ref);
      return entry?.phase === 'Completed' && (n.status?.images ?? []).some((i) => i.digest === busybox.digest) && n;
    }, { what: 'preheat Completed and the image in status.images', timeoutMs: 60_000, intervalMs: 250 });
    assert.ok((await mirrorRequests(stack)) > 0, 'containerd asked the mirror first');
    const image = node.status?.images?.find((i) => i.digest === busybox.digest);
    assert.ok(image?.names?.includes(busybox.ref), `names ${JSON.stringify(image?.names)}`);
    assert.ok((image?.sizeBytes ?? 0) > 0);
    assert.ok((node.status?.mirror?.preheat?.[0]?.bytesTotal ?? 0) > 0);
    assert.equal(node.status?.mirror?.endpoint, stack.mirrorUrl);
    // What the scheduler's image locality score matches on.
    assert.ok(node.status?.images?.some((i) => (i.names ?? []).some((n) => normalizeImage(n) === normalizeImage(busybox.ref))));

    // The operator aggregates it into the MirrorPolicy status.
    const policy = await waitFor(async () => {
      const p = await getPolicy('mp-e2e');
      return findCondition(p.status?.conditions, 'Preheated')?.status === 'True' && p.status?.nodesReady === 1 && p;
    }, { what: 'MirrorPolicy Preheated=True and nodesReady=1', timeoutMs: 15_000 });
    assert.equal(policy.status?.nodesSelected, 1);
    assert.equal(findCondition(policy.status?.conditions, 'Ready')?.status, 'True');
    assert.deepEqual(
      policy.status?.preheat?.map((p) => [p.node, p.image, p.phase]),
      [['mp-node-0', busybox.ref, 'Completed']],
    );
    assert.equal(policy.status?.advertisedImages, 1, 'busybox:1.36, from the mirrored registry, on the ready node');

    // Status is written only when it changes: at rest, neither the Node nor the policy is rewritten.
    const before = [(await getNode('mp-node-0')).metadata.resourceVersion, (await getPolicy('mp-e2e')).metadata.resourceVersion];
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.deepEqual([(await getNode('mp-node-0')).metadata.resourceVersion, (await getPolicy('mp-e2e')).metadata.resourceVersion], before);
  });

  it('restores the original hosts.toml byte for byte when the policy stops selecting the node, and installs it again', async () => {
    await setLabel('mp-node-0', null);
    await waitFor(async () => (await readFile(hostsPath)).equals(original), { what: 'hosts.toml restored', timeoutMs: 10_000 });
    assert.deepEqual(await readdir(join(env.nodes[0]!.certsDir, env.registry.host)), ['hosts.toml'], 'no backup left behind');
    await waitFor(async () => (await mirrorReady('mp-node-0')) === 'False/NoPolicy', { what: 'MirrorReady=False/NoPolicy' });
    await waitFor(async () => (await getPolicy('mp-e2e')).status?.nodesSelected === 0, { what: 'nodesSelected=0' });

    await setLabel('mp-node-0', 'on');
    await waitFor(async () => !(await readFile(hostsPath)).equals(original), { what: 'hosts.toml installed again', timeoutMs: 10_000 });
    await waitFor(async () => (await mirrorReady('mp-node-0')) === 'True/MirrorServing', { what: 'MirrorReady=True again' });
  });

  it('restores the original hosts.toml byte for byte when the policy is deleted', async () => {
    await admin.request('DELETE', resourcePath(mirrorPolicyType, undefined, 'mp-e2e'));
    await waitFor(async () => (await readFile(hostsPath)).equals(original), { what: 'hosts.toml restored', timeoutMs: 10_000 });
    await waitFor(async () => (await mirrorReady('mp-node-0')) === 'False/NoPolicy', { what: 'MirrorReady=False/NoPolicy' });
  });

  it('reports a preheat image that cannot be pulled as Failed with the error, on the Node and the MirrorPolicy, and keeps retrying', async () => {
    const missing = `${env.registry.host}/shoal/does-not-exist:1`;
    await admin.request('POST', resourcePath(mirrorPolicyType), { body: { ...policyBody('mp-fail'), spec: { ...policyBody('mp-fail').spec, preheat: [missing] } } });
    const failed = await waitFor(async () => {
      const entry = (await getNode('mp-node-0')).status?.mirror?.preheat?.find((p) => p.image === missing);
      return entry?.phase === 'Failed' && entry;
    }, { what: 'preheat Failed on the Node', timeoutMs: 30_000, intervalMs: 250 });
    assert.match(failed.message ?? '', /not found|failed to resolve/i);
    const policy = await waitFor(async () => {
      const p = await getPolicy('mp-fail');
      return findCondition(p.status?.conditions, 'Preheated')?.reason === 'PullFailed' && p;
    }, { what: 'Preheated=False/PullFailed', timeoutMs: 15_000 });
    assert.equal(policy.status?.preheat?.[0]?.phase, 'Failed');
    assert.match(policy.status?.preheat?.[0]?.message ?? '', /not found|failed to resolve/i);
    const stack = stacks.find((s) => s.name === 'mp-node-0')!;
    await waitFor(async () => /shoal_mirror_preheat_pulls_total\{result="error"\} ([2-9]|\d\d)/.test(await stack.metrics.metrics()), { what: 'a retry', timeoutMs: 15_000 });
    await admin.request('DELETE', resourcePath(mirrorPolicyType, undefined, 'mp-fail'));
    await waitFor(async () => (await readFile(hostsPath)).equals(original), { what: 'hosts.toml restored', timeoutMs: 10_000 });
    await waitFor(async () => (await getNode('mp-node-0')).status?.mirror?.preheat === undefined, { what: 'the preheat list cleared on the Node' });
  });

  for (const [problem, misconfigure] of [
    ['ConfigPathNotSet', { noConfigPath: true }],
    ['DiscardUnpackedLayers', { discardUnpackedLayers: true }],
  ] as const) {
    it(`reports MirrorReady=False/${problem} within 10 s of the agent starting`, async () => {
      const ctd = await Containerd.start({ dir: await mkdtemp('/tmp/shoal-ctd-'), name: problem, logger, misconfigure });
      extraContainerds.push(ctd);
      const name = `mp-${problem.toLowerCase()}`;
      const began = performance.now();
      await startAgentStack(name, {}, ctd.address, ctd.certsDir);
      await waitFor(async () => (await mirrorReady(name)) === `False/${problem}`, { what: `MirrorReady=False/${problem}`, timeoutMs: 10_000, intervalMs: 100 });
      const ms = performance.now() - began;
      assert.ok(ms < 10_000, `took ${ms} ms`);
      const message = findCondition((await getNode(name)).status?.conditions, 'MirrorReady')?.message ?? '';
      assert.match(message, problem === 'ConfigPathNotSet' ? /config_path/ : /discard_unpacked_layers = false/);
      console.log(`      ${problem} reported after ${Math.round(ms)} ms`);
    });
  }
});
