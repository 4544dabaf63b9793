// Workloads end to end: the real operator schedules, real agents run them on their own real containerd
// (runc), pulling from a real registry through CRI. Nothing here is faked.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ControlPlane } from '../../hack/controlplane.ts';
import { startNodeEnv, type NodeEnv } from '../../hack/env.ts';
import { ContainerdClient } from '../../agents/runtime/containerd/client.ts';
import { defaultSnapshotter } from '../../agents/runtime/containerd/snapshots.ts';
import { label } from '../../agents/runtime/naming.ts';
import { labelEquals } from '../../agents/runtime/containerd/filters.ts';
import { nodeType, workloadType, type Node, type Workload } from '../../operator/src/api/generated/types.ts';
import { agentFinalizer, nodeLeaseNamespace } from '../../operator/src/controllers/names.ts';
import { findCondition } from '../../operator/src/runtime/conditions.ts';
import { KubeClient, isNotFound } from '../../operator/src/runtime/kube.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { resourcePath } from '../../operator/src/runtime/resource.ts';
import { ensureNamespaces, makeKubeConfig, sharedControlPlane, waitFor } from './fixture.ts';
import { startAgent, startOperator, type ShoalProcess } from './support/shoal-process.ts';

const quiet = createLogger({ test: 'agent' }, { level: 'error' });

describe('Workloads on real agents and containerd', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let client: KubeClient;
  let env: NodeEnv;
  let dir: string;
  let operator: ShoalProcess;
  const agents = new Map<string, ShoalProcess>();
  const ctr = new Map<string, ContainerdClient>();
  const ns = 'agent-e2e';

  const image = (repo: string): string => `${env.registry.host}/${repo}`;
  const agentName = (i: number): string => `agent-${i}`;
  async function startAgentOn(i: number): Promise<ShoalProcess> {
    const node = env.nodes[i]!;
    const agent = await startAgent({
      node: agentName(i),
      kubeconfig: cp.kubeconfigPath,
      containerdAddress: node.containerd.address,
      runcRoot: node.containerd.runcRoot,
      stateDir: join(dir, `state-${i}`),
      labels: { 'e2e.shoal.dev/agent': 'true' },
    });
    agents.set(agentName(i), agent);
    return agent;
  }
  const create = (name: string, spec: Partial<Workload['spec']>): Promise<Workload> =>
    client.request('POST', resourcePath(workloadType, ns), {
      body: { apiVersion: 'shoal.dev/v1alpha1', kind: 'Workload', metadata: { name, namespace: ns }, spec: { image: image('shoal/busybox:1.36'), nodeSelector: { 'e2e.shoal.dev/agent': 'true' }, ...spec } },
    });
  const get = (name: string): Promise<Workload> => client.request('GET', resourcePath(workloadType, ns, name));
  const until = (name: string, what: string, test: (w: Workload) => boolean, timeoutMs = 60_000): Promise<Workload> =>
    waitFor(async () => {
      const w = await get(name);
      return test(w) && w;
    }, { what: `${name}: ${what}`, timeoutMs, intervalMs: 200 });
  const containersOf = async (node: string, w: Workload): Promise<string[]> =>
    (await ctr.get(node)!.containers.list([labelEquals(label.uid, w.metadata.uid ?? '')])).map((c) => c.id);

  before(async () => {
    cp = await sharedControlPlane();
    client = KubeClient.fromKubeConfig(makeKubeConfig(cp));
    await ensureNamespaces(client, ['shoal-system', nodeLeaseNamespace, ns]);
    dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
    env = await startNodeEnv({ dir: join(dir, 'env'), nodes: 2, logger: quiet });
    for (const [i, node] of env.nodes.entries()) ctr.set(agentName(i), await ContainerdClient.connect({ address: node.containerd.address, namespace: 'k8s.io', logger: quiet }));
    operator = await startOperator(cp, { leaseName: 'le-agent-e2e', args: ['--node-lost-grace-period=5s'] });
    await startAgentOn(0);
    await startAgentOn(1);
    for (const name of [agentName(0), agentName(1)]) {
      await waitFor(async () => findCondition((await client.request<Node>('GET', resourcePath(nodeType, undefined, name))).status?.conditions, 'Ready')?.status === 'True', { what: `${name} Ready`, timeoutMs: 30_000 });
    }
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    for (const [name, agent] of agents) console.log(`--- ${name} (last 40 lines)\n${agent.output().trim().split('\n').slice(-40).join('\n')}`);
  });

  after(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop('SIGTERM')));
    await operator?.stop('SIGTERM');
    for (const c of ctr.values()) c.close();
    await env?.stop({ purge: true });
    await client?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('registers each agent as a Ready Node with capacity and containerd version', async () => {
    const node = await client.request<Node>('GET', resourcePath(nodeType, undefined, agentName(0)));
    assert.match(String(node.status?.capacity?.cpu), /^\d+$|^\d+m$/);
    assert.match(node.status?.nodeInfo?.containerdVersion ?? '', /^1\.6\./);
    assert.equal(findCondition(node.status?.conditions, 'ContainerdReady')?.status, 'True');
    assert.equal(node.metadata.labels?.['e2e.shoal.dev/agent'], 'true');
  });

  it('runs a Workload to Succeeded with exit code 0 and its output in the log file', async () => {
    await create('hello', { command: ['sh', '-c', 'echo hello from shoal; echo to stderr >&2'], restartPolicy: 'Never' });
    const w = await until('hello', 'Succeeded', (x) => x.status?.phase === 'Succeeded');
    assert.equal(w.status?.exitCode, 0);
    assert.equal(w.status?.reason, 'Completed');
    assert.ok(w.status?.startedAt && w.status.finishedAt);
    assert.equal(findCondition(w.status?.conditions, 'Completed')?.status, 'True');
    const node = w.status!.nodeName!;
    const logs = join(dir, `state-${node.split('-')[1]}`, 'logs', ns, 'hello', w.metadata.uid!);
    // The shim copies stdout and stderr on their own goroutines: the last bytes may land just after the exit.
    const text = await waitFor(async () => {
      const content = await readFile(join(logs, (await readdir(logs))[0]!), 'utf8');
      return /to stderr/.test(content) && content;
    }, { what: 'both streams in the log file', timeoutMs: 5_000 });
    assert.match(text, /hello from shoal/);
    await waitFor(async () => (await containersOf(node, w)).length === 0, { what: 'the finished container to be removed' });
  });

  it('ends a failing command Failed with its exit code', async () => {
    await create('fails', { image: image('shoal/failing:1'), restartPolicy: 'Never' });
    const w = await until('fails', 'Failed', (x) => x.status?.phase === 'Failed');
    assert.equal(w.status?.exitCode, 3);
    assert.equal(w.status?.reason, 'Error');
  });

  it('restarts with restartPolicy Always, counting restarts with a growing CrashLoopBackOff', async () => {
    await create('crashy', { command: ['sh', '-c', 'echo try; exit 1'], restartPolicy: 'Always' });
    const first = await until('crashy', 'first restart', (x) => (x.status?.restartCount ?? 0) >= 1);
    assert.equal(first.status?.reason, 'CrashLoopBackOff');
    assert.match(first.status?.message ?? '', /Back-off 10s/);
    assert.equal(first.status?.lastTermination?.exitCode, 1);
    const second = await until('crashy', 'second restart', (x) => (x.status?.restartCount ?? 0) >= 2, 40_000);
    assert.match(second.status?.message ?? '', /Back-off 20s/);
    const gap = Date.parse(second.status!.lastTermination!.finishedAt!) - Date.parse(first.status!.lastTermination!.finishedAt!);
    assert.ok(gap >= 10_000, `second exit only ${gap} ms after the first`);
  });

  it('keeps a container running through an agent kill -9, and the restarted agent re-adopts it and reports its exit', async () => {
    await create('survivor', { image: image('shoal/sleeper:1'), restartPolicy: 'Never', terminationGracePeriodSeconds: 2 });
    const running = await until('survivor', 'Running', (x) => x.status?.phase === 'Running');
    const node = running.status!.nodeName!;
    const index = Number(node.split('-')[1]);
    await agents.get(node)!.stop('SIGKILL');
    const [id] = await containersOf(node, running);
    assert.ok(id);
    assert.equal((await ctr.get(node)!.tasks.get(id)).status, 'running', 'the container outlives its agent');
    await startAgentOn(index);
    await waitFor(async () => (await containersOf(node, running)).length === 1, { what: 'exactly one container after re-adoption' });
    // sleep is PID 1 in its namespace and has no SIGTERM handler, so the kernel ignores SIGTERM: kill it.
    await ctr.get(node)!.tasks.kill(id, 'SIGKILL');
    const done = await until('survivor', 'Failed after SIGKILL', (x) => x.status?.phase === 'Failed');
    assert.equal(done.status?.exitCode, 137);
    assert.equal(done.status?.containerID, id, 'the exit of the adopted container is the one reported');
  });

  it('deleting a running Workload removes its task, container and snapshot, and no finalizer is left', async () => {
    await create('doomed', { image: image('shoal/sleeper:1'), terminationGracePeriodSeconds: 1 });
    const w = await until('doomed', 'Running', (x) => x.status?.phase === 'Running');
    assert.ok(w.metadata.finalizers?.includes(agentFinalizer));
    const node = w.status!.nodeName!;
    const [id] = await containersOf(node, w);
    await client.request('DELETE', resourcePath(workloadType, ns, 'doomed'));
    await waitFor(async () => get('doomed').then(() => false, (err: unknown) => isNotFound(err)), { what: 'the Workload to be gone', timeoutMs: 30_000 });
    assert.deepEqual(await containersOf(node, w), []);
    await assert.rejects(ctr.get(node)!.tasks.get(id!), /not found/i);
    await assert.rejects(ctr.get(node)!.snapshots.stat(defaultSnapshotter, id!), /not found|does not exist/i);
  });

  it('reports an image that does not exist as ErrImagePull, and a missing command as StartError (exit 128)', async () => {
    await create('no-image', { image: image('shoal/does-not-exist:1'), restartPolicy: 'Never' });
    const pull = await until('no-image', 'ErrImagePull', (x) => findCondition(x.status?.conditions, 'ImagePulled')?.status === 'False');
    assert.match(pull.status?.reason ?? '', /ErrImagePull|ImagePullBackOff/);
    assert.match(findCondition(pull.status?.conditions, 'ImagePulled')?.message ?? '', /does-not-exist/);
    await create('no-command', { command: ['/no/such/binary'], restartPolicy: 'Never' });
    const start = await until('no-command', 'Failed', (x) => x.status?.phase === 'Failed');
    assert.equal(start.status?.exitCode, 128);
    assert.equal(start.status?.reason, 'StartError');
    assert.match(start.status?.message ?? '', /no such file|not found/i);
  });

  it('survives a containerd restart: the node reports it, and running Workloads keep running', async () => {
    await create('steady', { image: image('shoal/sleeper:1'), restartPolicy: 'Never', terminationGracePeriodSeconds: 1, nodeName: agentName(1) });
    const w = await until('steady', 'Running', (x) => x.status?.phase === 'Running');
    await env.nodes[1]!.containerd.restart();
    await create('after-restart', { command: ['sh', '-c', 'echo ok'], restartPolicy: 'Never', nodeName: agentName(1) });
    await until('after-restart', 'Succeeded', (x) => x.status?.phase === 'Succeeded');
    assert.equal((await get('steady')).status?.phase, 'Running');
    assert.equal((await get('steady')).status?.containerID, w.status?.containerID);
    assert.equal(agents.get(agentName(1))!.child.exitCode, null, 'the agent kept running');
  });

  it('stopping an agent for good: NotReady within 40 s, the Workload reruns as attempt 2 on the other agent, and the returning agent stops its stale container', async () => {
    await create('mover', { image: image('shoal/sleeper:1'), restartPolicy: 'Always', terminationGracePeriodSeconds: 1 });
    const first = await until('mover', 'Running', (x) => x.status?.phase === 'Running');
    const lostNode = first.status!.nodeName!;
    const otherNode = [agentName(0), agentName(1)].find((n) => n !== lostNode)!;
    await agents.get(lostNode)!.stop('SIGKILL');
    const stopped = performance.now();
    const [staleId] = await containersOf(lostNode, first);
    await waitFor(async () => findCondition((await client.request<Node>('GET', resourcePath(nodeType, undefined, lostNode))).status?.conditions, 'Ready')?.reason === 'LeaseExpired', { what: `${lostNode} LeaseExpired`, timeoutMs: 50_000, intervalMs: 250 });
    assert.ok(performance.now() - stopped <= 43_000, `NotReady after ${Math.round(performance.now() - stopped)} ms`);
    const moved = await until('mover', 'attempt 2 running elsewhere', (x) => x.status?.attempt === 2 && x.status.phase === 'Running', 30_000);
    assert.equal(moved.status?.nodeName, otherNode);
    assert.equal((await ctr.get(lostNode)!.tasks.get(staleId!)).status, 'running', 'the partitioned node still runs attempt 1');
    await startAgentOn(Number(lostNode.split('-')[1]));
    await waitFor(async () => (await containersOf(lostNode, first)).length === 0, { what: 'the stale attempt to be stopped and removed', timeoutMs: 30_000 });
    assert.equal((await get('mover')).status?.nodeName, otherNode, 'the returning agent leaves the new attempt alone');
  });
});
