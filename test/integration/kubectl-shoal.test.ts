// The kubectl plugin end to end: the real bin/kubectl-shoal launcher (and kubectl finding it on PATH) against a
// real control plane, operator, agent, containerd and registry; `logs` through the agent's authenticated HTTPS
// endpoint with each user's own token, checked by the API server (TokenReview + SubjectAccessReview).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import type { ControlPlane } from '../../hack/controlplane.ts';
import { binaries } from '../../hack/binaries.ts';
import { startNodeEnv, type NodeEnv } from '../../hack/env.ts';
import { nodeType, workloadType, type Node, type Workload, type WorkloadStatus } from '../../operator/src/api/generated/types.ts';
import { nodeLeaseNamespace } from '../../operator/src/controllers/names.ts';
import { findCondition } from '../../operator/src/runtime/conditions.ts';
import { KubeClient, isNotFound } from '../../operator/src/runtime/kube.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { coreTypes, resourcePath } from '../../operator/src/runtime/resource.ts';
import { createIfMissing, makeKubeConfig, repoRoot, sharedControlPlane, waitFor } from './fixture.ts';
import { startAgent, startOperator, type ShoalProcess } from './support/shoal-process.ts';

const quiet = createLogger({ test: 'kubectl-shoal' }, { level: 'error' });
const launcher = join(repoRoot, 'bin/kubectl-shoal');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('kubectl shoal (the kubectl plugin) on a real cluster', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let client: KubeClient;
  let env: NodeEnv;
  let dir: string;
  let operator: ShoalProcess | undefined;
  let agent: ShoalProcess | undefined;
  const ns = 'plugin-e2e';
  const nodeName = 'plugin-node-0';
  const rbac = { clusterRole: 'e2e-plugin-node-reader', clusterBindings: ['e2e-plugin-alice-nodes', 'e2e-plugin-bob-nodes'] };

  const image = (): string => `${env.registry.host}/shoal/busybox:1.36`;
  const exec = (file: string, args: string[], extraEnv: Record<string, string>): Promise<Run> =>
    new Promise((resolve) => {
      execFile(file, args, { env: { ...process.env, ...extraEnv }, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
  /** Runs bin/kubectl-shoal as `user` (its kubeconfig via $KUBECONFIG, as a user's shell would have it). */
  const shoal = (args: string[], user = 'admin'): Promise<Run> => exec(launcher, args, { KUBECONFIG: cp.kubeconfigFor(user) });
  const get = (name: string): Promise<Workload> => client.request('GET', resourcePath(workloadType, ns, name));
  /** Waits until the Workload is in `phase` (with `reason`, when given). */
  const untilPhase = (name: string, phase: WorkloadStatus['phase'], reason?: string): Promise<Workload> =>
    waitFor(async () => {
      const workload = await get(name);
      const { phase: seen, reason: why } = workload.status ?? {};
      return seen === phase && (reason === undefined || why === reason) && workload;
    }, { what: `${name} ${phase} ${reason ?? ''}`.trim(), timeoutMs: 60_000, intervalMs: 200 });
  const created = async (args: string[]): Promise<void> => {
    const run = await shoal(['run', '-n', ns, ...args]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `workload.shoal.dev/${args[0]} created\n`);
  };
  const node = (): Promise<Node> => client.request<Node>('GET', resourcePath(nodeType, undefined, nodeName));
  const post = (path: string, body: object): Promise<void> => createIfMissing(client, path, body);

  before(async () => {
    cp = await sharedControlPlane();
    client = KubeClient.fromKubeConfig(makeKubeConfig(cp));
    for (const name of ['shoal-system', nodeLeaseNamespace, ns]) await post(resourcePath(coreTypes.namespace), { metadata: { name } });
    // Nodes left by earlier suites of this run (their agents are gone) would take unselected Workloads.
    await client.request('DELETE', resourcePath(nodeType));
    dir = await mkdtemp(join(tmpdir(), 'shoal-plugin-'));
    env = await startNodeEnv({ dir: join(dir, 'env'), nodes: 1, logger: quiet });
    operator = await startOperator(cp, { leaseName: 'le-plugin-e2e' });
    const containerd = env.nodes[0]!.containerd;
    agent = await startAgent({ node: nodeName, kubeconfig: cp.kubeconfigPath, containerdAddress: containerd.address, runcRoot: containerd.runcRoot, stateDir: join(dir, 'state') });
    await waitFor(async () => {
      const n = await node();
      return findCondition(n.status?.conditions, 'Ready')?.status === 'True' && n.status?.agentEndpoint;
    }, { what: `${nodeName} Ready with an agent endpoint`, timeoutMs: 30_000 });
    // Until its caches have synced the agent answers logs requests 503.
    await waitFor(async () => (await fetch(`${agent!.healthUrl}/readyz`)).ok, { what: 'the agent ready', timeoutMs: 30_000 });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && agent) console.log(`--- agent (last 40 lines)\n${agent.output().trim().split('\n').slice(-40).join('\n')}`);
  });

  after(async () => {
    await agent?.stop('SIGTERM');
    await operator?.stop('SIGTERM');
    await env?.stop({ purge: true });
    const cleanup = [
      resourcePath(nodeType, undefined, nodeName),
      `/apis/rbac.authorization.k8s.io/v1/clusterroles/${rbac.clusterRole}`,
      ...rbac.clusterBindings.map((b) => `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${b}`),
    ];
    for (const path of cleanup) await client?.request('DELETE', path).catch(() => undefined);
    await client?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('publishes the agent endpoint on the Node, and answers 401 without a token and 400 on a bad parameter', async () => {
    const endpoint = (await node()).status!.agentEndpoint!;
    assert.match(endpoint.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(endpoint.caBundle, /^-----BEGIN CERTIFICATE-----/);
    await created(['hello', '--image', image(), '--restart', 'Never', '--', 'sh', '-c', 'echo hello from shoal']);
    // Plain HTTPS that trusts only the published certificate: no insecure skip anywhere.
    const dispatcher = new Agent({ connect: { ca: endpoint.caBundle } });
    try {
      const anonymous = await fetch(`${endpoint.url}/v1/logs/${ns}/hello`, { dispatcher });
      assert.equal(anonymous.status, 401);
      assert.match(((await anonymous.json()) as { message: string }).message, /bearer token is required/);
      const badToken = await fetch(`${endpoint.url}/v1/logs/${ns}/hello`, { dispatcher, headers: { authorization: 'Bearer not-a-token' } });
      assert.equal(badToken.status, 401);
      await badToken.body?.cancel();
      const bad = await fetch(`${endpoint.url}/v1/logs/${ns}/hello?tailLines=abc`, { dispatcher, headers: { authorization: `Bearer ${cp.tokenFor('admin')}` } });
      assert.equal(bad.status, 400);
      assert.deepEqual(await bad.json(), { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'parameter tailLines must be an integer ≥ 0, got "abc"', reason: 'BadRequest', code: 400 });
      const elsewhere = await fetch(`${endpoint.url}/v1/logs/${ns}/not-here`, { dispatcher, headers: { authorization: `Bearer ${cp.tokenFor('admin')}` } });
      assert.equal(elsewhere.status, 404);
      assert.match(((await elsewhere.json()) as { message: string }).message, /not-here is not bound to node plugin-node-0/);
    } finally {
      await dispatcher.close();
    }
    const metrics = await agent!.metrics();
    assert.match(metrics, /shoal_agent_logs_requests_total\{code="401"\} 2/);
    assert.match(metrics, /shoal_agent_logs_requests_total\{code="400"\} 1/);
  });

  it('runs a Workload, lists it Succeeded (also as `kubectl shoal` through kubectl), and prints its logs', async () => {
    await untilPhase('hello', 'Succeeded');
    const ps = await shoal(['ps', '-n', ns]);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /^NAME\s+PHASE\s+REASON\s+NODE\s+RESTARTS\s+AGE\n/);
    assert.match(ps.stdout, /^hello\s+Succeeded\s+Completed\s+plugin-node-0\s+0\s+\d+s$/m);
    const all = await shoal(['ps', '-A']);
    assert.match(all.stdout, /^NAMESPACE\s+NAME\s+PHASE/);
    assert.match(all.stdout, /^plugin-e2e\s+hello\s+Succeeded/m);
    // kubectl finds the plugin on PATH as `kubectl shoal` (flags may not precede a plugin name, so $KUBECONFIG).
    const viaKubectl = await exec(binaries().kubectl, ['shoal', 'ps', '-n', ns], { PATH: `${join(repoRoot, 'bin')}:${process.env['PATH'] ?? ''}`, KUBECONFIG: cp.kubeconfigPath });
    assert.equal(viaKubectl.code, 0, viaKubectl.stderr);
    assert.match(viaKubectl.stdout, /^hello\s+Succeeded/m);
    const logs = await shoal(['logs', 'hello', '-n', ns]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'hello from shoal\n');
    const missing = await shoal(['logs', 'nope', '-n', ns]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `error: workload ${ns}/nope not found\n`);
    const usage = await shoal(['logs', 'hello', '--tail', 'many']);
    assert.equal(usage.code, 2);
  });

  it('prints only the last lines with --tail', async () => {
    await created(['ten', '--image', image(), '--restart', 'Never', '--', 'sh', '-c', 'seq 1 10']);
    await untilPhase('ten', 'Succeeded');
    const tail = await shoal(['logs', 'ten', '--tail', '2', '-n', ns]);
    assert.equal(tail.code, 0, tail.stderr);
    assert.equal(tail.stdout, '9\n10\n');
    assert.equal((await shoal(['logs', 'ten', '-n', ns])).stdout, Array.from({ length: 10 }, (_, i) => `${i + 1}\n`).join(''));
  });

  it('follows a running Workload with -f, line by line, and ends when the container exits', async () => {
    await created(['ticker', '--image', image(), '--restart', 'Never', '--', 'sh', '-c', 'for i in 1 2 3 4 5 6; do echo tick $i; sleep 1; done']);
    await untilPhase('ticker', 'Running');
    const started = performance.now();
    const child = spawn(launcher, ['logs', '-f', 'ticker', '-n', ns], { env: { ...process.env, KUBECONFIG: cp.kubeconfigPath }, stdio: ['ignore', 'pipe', 'pipe'] });
    const arrivals: { line: string; ms: number }[] = [];
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) arrivals.push({ line, ms: performance.now() - started });
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const finished = await get('ticker');
    assert.equal(code, 0, stderr);
    assert.deepEqual(arrivals.map((a) => a.line), ['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5', 'tick 6']);
    // Lines came as they were printed, a second apart, not all at the end.
    const spread = arrivals.at(-1)!.ms - arrivals.find((a) => a.line === 'tick 3')!.ms;
    assert.ok(spread >= 2_000, `tick 3 → tick 6 arrived within ${Math.round(spread)} ms`);
    assert.equal(finished.status?.phase, 'Succeeded', 'the follow ended once the container had exited');
  });

  it('refuses alice without RBAC (API server 403) and without workloads/log (agent 403), and serves her once granted', async () => {
    const denied = await shoal(['logs', 'hello', '-n', ns], 'alice');
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^Error from server \(Forbidden\): workloads\.shoal\.dev "hello" is forbidden: User "alice" cannot get resource "workloads"/);
    // Reading the Workload and its Node is not enough: the agent asks the API server about workloads/log.
    await post(`/apis/rbac.authorization.k8s.io/v1/clusterroles`, { metadata: { name: rbac.clusterRole }, rules: [{ apiGroups: ['shoal.dev'], resources: ['nodes'], verbs: ['get'] }] });
    await post(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`, { metadata: { name: rbac.clusterBindings[0] }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: rbac.clusterRole }, subjects: [{ kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' }] });
    const role = (log: boolean): object => ({
      metadata: { name: 'workload-reader', namespace: ns },
      rules: [{ apiGroups: ['shoal.dev'], resources: ['workloads'], verbs: ['get', 'list'] }, ...(log ? [{ apiGroups: ['shoal.dev'], resources: ['workloads/log'], verbs: ['get'] }] : [])],
    });
    await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, role(false));
    await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, { metadata: { name: 'alice-reads', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'workload-reader' }, subjects: [{ kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' }] });
    const byAgent = await waitFor(async () => {
      const run = await shoal(['logs', 'hello', '-n', ns], 'alice');
      return /answered 403/.test(run.stderr) && run;
    }, { what: 'the agent to refuse alice', timeoutMs: 30_000, intervalMs: 500 });
    assert.equal(byAgent.code, 1);
    assert.match(byAgent.stderr, /^error: the agent of node plugin-node-0 answered 403 Forbidden: workloads\.shoal\.dev "hello" is forbidden: User "alice" cannot get resource "workloads\/log" in API group "shoal\.dev" in the namespace "plugin-e2e"/);
    await client.request('PUT', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/workload-reader`, { body: role(true) });
    // The agent caches its decision ~10 s; the grant shows once it expires.
    const allowed = await waitFor(async () => {
      const run = await shoal(['logs', 'hello', '-n', ns], 'alice');
      return run.code === 0 && run;
    }, { what: 'alice to read the logs once granted', timeoutMs: 30_000, intervalMs: 1_000 });
    assert.equal(allowed.stdout, 'hello from shoal\n');
  });

  it('serves bob through the shipped viewer role (config/rbac/workload_roles.yaml)', async () => {
    const applied = await cp.kubectl(['apply', '-f', join(repoRoot, 'config/rbac/workload_roles.yaml')]);
    assert.equal(applied.code, 0, applied.stderr);
    await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, { metadata: { name: 'bob-views', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'shoal-workload-viewer' }, subjects: [{ kind: 'User', name: 'bob', apiGroup: 'rbac.authorization.k8s.io' }] });
    await post(`/apis/rbac.authorization.k8s.io/v1/clusterroles`, { metadata: { name: rbac.clusterRole }, rules: [{ apiGroups: ['shoal.dev'], resources: ['nodes'], verbs: ['get'] }] });
    await post(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`, { metadata: { name: rbac.clusterBindings[1] }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: rbac.clusterRole }, subjects: [{ kind: 'User', name: 'bob', apiGroup: 'rbac.authorization.k8s.io' }] });
    const logs = await waitFor(async () => {
      const run = await shoal(['logs', 'ten', '--tail', '1', '-n', ns], 'bob');
      return run.code === 0 && run;
    }, { what: 'bob to read logs as a viewer', timeoutMs: 30_000, intervalMs: 500 });
    assert.equal(logs.stdout, '10\n');
  });

  it('lists the node Ready; cordon keeps a new Workload Pending (Unschedulable) until uncordon', async () => {
    const nodes = await shoal(['nodes']);
    assert.equal(nodes.code, 0, nodes.stderr);
    assert.match(nodes.stdout, /^NAME\s+READY\s+WORKLOADS\s+CPU\s+MEMORY\s+AGE\n/);
    assert.match(nodes.stdout, /^plugin-node-0\s+True\s+\d+\/\d+\s+\S+\/\S+\s+\S+\/\S+\s+\S+$/m);
    const cordon = await shoal(['cordon', nodeName]);
    assert.equal(cordon.stdout, `node.shoal.dev/${nodeName} cordoned\n`, cordon.stderr);
    assert.equal((await node()).spec?.unschedulable, true);
    assert.match((await shoal(['nodes'])).stdout, /^plugin-node-0\s+True,SchedulingDisabled\s/m);
    await created(['parked', '--image', image(), '--restart', 'Never', '--', 'sh', '-c', 'echo parked']);
    await untilPhase('parked', 'Pending', 'Unschedulable');
    assert.match((await shoal(['ps', '-n', ns])).stdout, /^parked\s+Pending\s+Unschedulable\s+<none>\s+0\s/m);
    const early = await shoal(['logs', 'parked', '-n', ns]);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /^error: workload plugin-e2e\/parked is not scheduled yet/);
    const uncordon = await shoal(['uncordon', nodeName]);
    assert.equal(uncordon.stdout, `node.shoal.dev/${nodeName} uncordoned\n`, uncordon.stderr);
    assert.equal((await shoal(['uncordon', nodeName])).stdout, `node.shoal.dev/${nodeName} already uncordoned\n`);
    assert.equal((await node()).spec?.unschedulable, undefined);
    await untilPhase('parked', 'Succeeded');
    assert.equal((await shoal(['logs', 'parked', '-n', ns])).stdout, 'parked\n');
    const unknown = await shoal(['cordon', 'no-such-node']);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'error: node no-such-node not found\n');
  });

  it('deletes the Workloads: the agent releases its finalizer', async () => {
    for (const name of ['hello', 'ten', 'ticker', 'parked']) await client.request('DELETE', resourcePath(workloadType, ns, name));
    await waitFor(async () => get('parked').then(() => false, (err: unknown) => isNotFound(err)), { what: 'the Workloads to be gone' });
  });
});
