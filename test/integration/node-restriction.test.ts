// The node agents' identity: the RBAC and the ValidatingAdmissionPolicy of config/rbac, installed as
// config/default renders them, against real service-account tokens minted with TokenRequest for Pods bound
// to Nodes (what the DaemonSet's projected token is). Each agent may write only its own Node, its own Lease
// and the Workloads bound to it; then the real agent binary runs under such a token.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { ensureNode, reportNodeStatus, type NodeIdentity } from '../../agents/node/registration.ts';
import { renewLease } from '../../agents/node/heartbeat.ts';
import type { ControlPlane } from '../../hack/controlplane.ts';
import { startNodeEnv, type NodeEnv } from '../../hack/env.ts';
import { nodeType, workloadType, type Node, type Workload, type WorkloadStatus } from '../../operator/src/api/generated/types.ts';
import { agentFinalizer, nodeLeaseNamespace } from '../../operator/src/controllers/names.ts';
import { findCondition } from '../../operator/src/runtime/conditions.ts';
import { loadCredentials } from '../../operator/src/runtime/credentials.ts';
import { ContentType, KubeApiError, KubeClient, isNotFound } from '../../operator/src/runtime/kube.ts';
import type { Lease } from '../../operator/src/runtime/leader.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { coreTypes, resourcePath, type KubeObject, type ResourceType } from '../../operator/src/runtime/resource.ts';
import { addFinalizer, applyStatus, removeFinalizer } from '../../operator/src/runtime/writes.ts';
import { createIfMissing as createIfMissingAs, makeKubeConfig, repoRoot, sharedControlPlane, waitFor } from './fixture.ts';
import { startAgent, type ShoalProcess } from './support/shoal-process.ts';

const quiet = createLogger({ test: 'node-restriction' }, { level: 'error' });
const agentNamespace = 'shoal-system';
const ns = 'node-restriction';
const policy = 'shoal-agent-node-restriction';
const nodeNameExtra = 'authentication.kubernetes.io/node-name';
const pod: ResourceType = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
const coreNode: ResourceType = { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false };
const secret: ResourceType = { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true };
const serviceAccount: ResourceType = { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true };
// What config/rbac contributes to config/default: the identities, their roles and the admission policy.
const identityKinds = new Set(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

interface AgentIdentity {
  node: string;
  kubeconfig: string;
  client: KubeClient;
}

interface UserInfo {
  username: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** Who the API server takes the client for (SelfSubjectReview, `kubectl auth whoami`). */
async function whoami(client: KubeClient): Promise<UserInfo> {
  const review = await client.request<{ status: { userInfo: UserInfo } }>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
  return review.status.userInfo;
}

const toYaml = (objects: KubeObject[]): string => objects.map((o) => stringify(o)).join('---\n');

/** Rejected with 403 and a message matching `message`. */
async function refused(call: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof KubeApiError, `not an API error: ${String(err)}`);
    assert.equal(err.status, 403, err.message);
    assert.match(err.message, message);
    return true;
  });
}

const byPolicy = (text: string): RegExp => new RegExp(`ValidatingAdmissionPolicy '${policy}' .*denied request: ${text}`);

describe('node agent identity: RBAC and NodeRestriction by admission policy', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let admin: KubeClient;
  let dir: string;
  let installed: KubeObject[] = [];
  const agents = new Map<string, AgentIdentity>();
  const agentPods: string[] = [];
  const agent = (node: string): AgentIdentity => agents.get(node)!;
  const nodeIdentity = (name: string): NodeIdentity => ({ name, labels: { 'nr.shoal.dev/test': 'true' }, maxWorkloads: 10, agentVersion: 'test' });

  /** A kubeconfig for `token`: the admin kubeconfig's cluster (server and CA), another user. */
  async function tokenKubeconfig(name: string, token: string): Promise<string> {
    const config = parse(await readFile(cp.kubeconfigFor('admin'), 'utf8')) as { clusters: { name: string }[] };
    const path = join(dir, `kubeconfig-${name}`);
    const cluster = config.clusters[0]!.name;
    await writeFile(path, stringify({ ...config, users: [{ name, user: { token } }], contexts: [{ name, context: { cluster, user: name } }], 'current-context': name }), { mode: 0o600 });
    return path;
  }

  /** TokenRequest for the agent's service account, bound to `boundPod` (as the kubelet does for the projected token), or unbound. */
  async function mintToken(boundPod?: KubeObject): Promise<string> {
    const boundObjectRef = boundPod ? { apiVersion: 'v1', kind: 'Pod', name: boundPod.metadata.name, uid: boundPod.metadata.uid } : undefined;
    const request = await admin.request<{ status: { token: string } }>('POST', resourcePath(serviceAccount, agentNamespace, 'shoal-agent', 'token'), {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: boundObjectRef ? { boundObjectRef } : {} },
    });
    return request.status.token;
  }

  async function clientFor(name: string, token: string): Promise<{ kubeconfig: string; client: KubeClient }> {
    const kubeconfig = await tokenKubeconfig(name, token);
    return { kubeconfig, client: new KubeClient(loadCredentials(kubeconfig)) };
  }

  const createIfMissing = (path: string, body: unknown): Promise<void> => createIfMissingAs(admin, path, body);
  const deleteIfPresent = (path: string, query?: Record<string, string | number>): Promise<unknown> =>
    admin.request('DELETE', path, query ? { query } : {}).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });

  async function createWorkload(name: string, boundTo: string): Promise<Workload> {
    await admin.request('POST', resourcePath(workloadType, ns), {
      body: { apiVersion: 'shoal.dev/v1alpha1', kind: 'Workload', metadata: { name, namespace: ns, labels: { app: name }, finalizers: ['example.com/keep'] }, spec: { image: 'example.invalid/app:1' } },
    });
    // Binding is the scheduler's (the operator's) write; the agent only ever sees bound Workloads.
    return admin.request<Workload>('PATCH', resourcePath(workloadType, ns, name, 'status'), { contentType: ContentType.mergePatch, body: { status: { nodeName: boundTo } } });
  }
  const getWorkload = (name: string): Promise<Workload> => admin.request<Workload>('GET', resourcePath(workloadType, ns, name));
  async function deleteWorkload(name: string): Promise<void> {
    await admin.request('PATCH', resourcePath(workloadType, ns, name), { contentType: ContentType.mergePatch, body: { metadata: { finalizers: null } } }).catch(() => undefined);
    await deleteIfPresent(resourcePath(workloadType, ns, name));
  }

  before(async () => {
    cp = await sharedControlPlane();
    admin = KubeClient.fromKubeConfig(makeKubeConfig(cp));
    dir = await mkdtemp(join(tmpdir(), 'shoal-node-restriction-'));
    for (const name of [agentNamespace, nodeLeaseNamespace, ns]) await createIfMissing(resourcePath(coreTypes.namespace), { metadata: { name } });

    const rendered = await cp.kubectl(['kustomize', join(repoRoot, 'config/default')]);
    assert.equal(rendered.code, 0, rendered.stderr);
    installed = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as KubeObject).filter((o) => identityKinds.has(o.kind ?? ''));
    assert.ok(installed.some((o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.name === policy), 'config/default renders the admission policy');
    const applied = await cp.kubectl(['apply', '-f', '-'], { input: toYaml(installed) });
    assert.equal(applied.code, 0, applied.stderr);

    // Two "hosts": core Nodes (no kubelet needed) and a Pod of the agent on each, as the DaemonSet would make.
    for (const node of ['nr-node-a', 'nr-node-b']) {
      await createIfMissing(resourcePath(coreNode), { apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'topology.shoal.dev/host': node } } });
      const agentPod = await admin.request<KubeObject>('POST', resourcePath(pod, agentNamespace), {
        body: { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: `shoal-agent-${node}-`, namespace: agentNamespace }, spec: { nodeName: node, serviceAccountName: 'shoal-agent', containers: [{ name: 'agent', image: 'ghcr.io/shoal-dev/shoal:0.1.0' }] } },
      });
      agentPods.push(agentPod.metadata.name!);
      agents.set(node, { node, ...(await clientFor(node, await mintToken(agentPod))) });
    }
    // The policy and the roles reach the API server's caches a moment after they are created.
    await waitFor(
      async () => {
        const dryRun = agent('nr-node-a').client.request('POST', resourcePath(nodeType), { query: { dryRun: 'All' }, body: { apiVersion: 'shoal.dev/v1alpha1', kind: 'Node', metadata: { name: 'nr-node-b' }, spec: {} } });
        return dryRun.then(() => false, (err: unknown) => err instanceof KubeApiError && byPolicy('').test(err.message));
      },
      { what: 'the admission policy to be enforced', timeoutMs: 30_000, intervalMs: 250 },
    );
  });

  after(async () => {
    const workloads = await admin.request<{ items: Workload[] }>('GET', resourcePath(workloadType, ns)).catch(() => ({ items: [] }));
    for (const w of workloads.items) await deleteWorkload(w.metadata.name!);
    for (const node of ['nr-node-a', 'nr-node-b']) {
      await deleteIfPresent(resourcePath(nodeType, undefined, node));
      await deleteIfPresent(resourcePath(coreTypes.lease, nodeLeaseNamespace, node));
      await deleteIfPresent(resourcePath(coreNode, undefined, node));
    }
    // No kubelet confirms a graceful deletion: delete at once.
    for (const name of agentPods) await deleteIfPresent(resourcePath(pod, agentNamespace, name), { gracePeriodSeconds: 0 });
    // Namespaces stay (no namespace controller would finish deleting them); everything else applied goes.
    const rest = installed.filter((o) => o.kind !== 'Namespace');
    if (rest.length > 0) await cp.kubectl(['delete', '--ignore-not-found', '-f', '-'], { input: toYaml(rest) });
    await cp?.kubectl(['delete', '--ignore-not-found', 'clusterrolebinding/nr-test-widened', 'clusterrole/nr-test-widened']);
    for (const a of agents.values()) await a.client.close();
    await admin?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('mints tokens whose user info carries the node of the bound Pod (SelfSubjectReview)', async () => {
    for (const { node, client } of agents.values()) {
      const { username, groups, extra } = await whoami(client);
      assert.equal(username, `system:serviceaccount:${agentNamespace}:shoal-agent`);
      assert.ok(groups?.includes(`system:serviceaccounts:${agentNamespace}`), String(groups));
      assert.deepEqual(extra?.[nodeNameExtra], [node], JSON.stringify(extra));
      assert.match(extra?.['authentication.kubernetes.io/pod-name']?.[0] ?? '', new RegExp(`^shoal-agent-${node}-`));
    }
  });

  it('lets an agent register its own Node and write its status, and refuses the other Node', async () => {
    const a = agent('nr-node-a').client;
    const node = await ensureNode(a, nodeIdentity('nr-node-a'));
    assert.equal(node.metadata.ownerReferences?.[0]?.name, 'nr-node-a', 'owned by the core Node it read');
    const reported = await reportNodeStatus(a, node, nodeIdentity('nr-node-a'), { containerdVersion: '1.6.test' });
    assert.equal(findCondition(reported?.status?.conditions, 'Ready')?.status, 'True');

    await refused(ensureNode(a, nodeIdentity('nr-node-b')), byPolicy('agent on node nr-node-a may only write its own Node, not nr-node-b'));
    const b = await ensureNode(agent('nr-node-b').client, nodeIdentity('nr-node-b'));
    await refused(reportNodeStatus(a, b, nodeIdentity('nr-node-a'), { containerdVersion: '1.6.test' }), byPolicy('agent on node nr-node-a may only write its own Node and its status, not nr-node-b'));
    // RBAC grants no update of the Node itself (labels, spec), nor any delete.
    await refused(a.request('PATCH', resourcePath(nodeType, undefined, 'nr-node-a'), { contentType: ContentType.mergePatch, body: { metadata: { labels: { x: 'y' } } } }), /cannot patch resource "nodes"/);
    for (const victim of ['nr-node-a', 'nr-node-b']) await refused(a.request('DELETE', resourcePath(nodeType, undefined, victim)), /cannot delete resource "nodes"/);
  });

  it('lets an agent renew only its own Lease', async () => {
    const a = agent('nr-node-a').client;
    await renewLease(a, 'nr-node-a', 40); // creates it
    await renewLease(a, 'nr-node-a', 40); // patches it
    const lease = await admin.request<Lease>('GET', resourcePath(coreTypes.lease, nodeLeaseNamespace, 'nr-node-a'));
    assert.equal(lease.spec?.holderIdentity, 'nr-node-a');
    const other = byPolicy('agent on node nr-node-a may only write its own Lease shoal-node-lease/nr-node-a, not shoal-node-lease/nr-node-b');
    await refused(renewLease(a, 'nr-node-b', 40), other); // the create path
    await renewLease(agent('nr-node-b').client, 'nr-node-b', 40);
    await refused(renewLease(a, 'nr-node-b', 40), other); // the patch path
  });

  it('lets an agent write status and its finalizer on Workloads bound to it, and nothing else', async () => {
    const a = agent('nr-node-a').client;
    const mine = await createWorkload('bound-to-a', 'nr-node-a');
    const theirs = await createWorkload('bound-to-b', 'nr-node-b');
    const status: WorkloadStatus = { phase: 'Running', reason: 'Started', message: 'test' };

    const withStatus = await applyStatus<WorkloadStatus, Workload>(a, workloadType, mine, status, 'shoal-agent/nr-node-a');
    assert.equal(withStatus?.status?.phase, 'Running');
    const withFinalizer = await addFinalizer(a, workloadType, withStatus!, agentFinalizer);
    assert.deepEqual(withFinalizer.metadata.finalizers, ['example.com/keep', agentFinalizer]);
    const without = await removeFinalizer(a, workloadType, withFinalizer, agentFinalizer);
    assert.deepEqual(without.metadata.finalizers, ['example.com/keep']);

    const notBound = byPolicy(`agent on node nr-node-a may only write Workloads bound to it \\(status.nodeName\\), not ${ns}/bound-to-b, bound to nr-node-b`);
    await refused(applyStatus<WorkloadStatus, Workload>(a, workloadType, theirs, status, 'shoal-agent/nr-node-a'), notBound);
    await refused(addFinalizer(a, workloadType, theirs, agentFinalizer), notBound);

    const current = await getWorkload('bound-to-a');
    const patch = (body: unknown, subresource?: string): Promise<unknown> =>
      a.request('PATCH', resourcePath(workloadType, ns, 'bound-to-a', subresource), { contentType: ContentType.mergePatch, body });
    const onlyFinalizers = byPolicy(`agent on node nr-node-a may only change metadata.finalizers of Workload ${ns}/bound-to-a, not its spec, labels, annotations or ownerReferences`);
    await refused(patch({ spec: { image: 'example.invalid/evil:1' } }), onlyFinalizers);
    await refused(patch({ metadata: { labels: { app: 'evil' } } }), onlyFinalizers);
    await refused(patch({ metadata: { annotations: { evil: 'true' } } }), onlyFinalizers);
    // A dangling owner would make the garbage collector delete the user's Workload.
    await refused(patch({ metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'gone', uid: '00000000-0000-0000-0000-000000000000' }] } }), onlyFinalizers);
    await refused(patch({ metadata: { finalizers: [agentFinalizer], resourceVersion: current.metadata.resourceVersion } }), byPolicy(`agent on node nr-node-a may only add or remove the finalizer shoal.dev/container-cleanup on Workload ${ns}/bound-to-a, not other finalizers`));
    await refused(patch({ status: { nodeName: 'nr-node-b' } }, 'status'), byPolicy(`agent on node nr-node-a may not change status.nodeName of Workload ${ns}/bound-to-a`));
    const after = await getWorkload('bound-to-a');
    assert.equal(after.spec.image, 'example.invalid/app:1');
    assert.equal(after.status?.nodeName, 'nr-node-a');
    assert.deepEqual(after.metadata.finalizers, ['example.com/keep']);
  });

  it('refuses what RBAC does not grant: Secrets, other namespaces, creating Workloads', async () => {
    const a = agent('nr-node-a').client;
    await refused(a.request('GET', resourcePath(secret)), /cannot list resource "secrets"/);
    await refused(a.request('GET', resourcePath(secret, agentNamespace)), /cannot list resource "secrets"/);
    await refused(a.request('POST', resourcePath(coreTypes.lease, agentNamespace), { body: { metadata: { name: 'nr-node-a' } } }), /cannot create resource "leases"/);
    await refused(a.request('POST', resourcePath(workloadType, ns), { body: { apiVersion: 'shoal.dev/v1alpha1', kind: 'Workload', metadata: { name: 'x' }, spec: { image: 'x' } } }), /cannot create resource "workloads"/);
  });

  it('refuses every write from a token that names no node', async () => {
    const unbound = await clientFor('unbound', await mintToken());
    try {
      assert.equal((await whoami(unbound.client)).extra?.[nodeNameExtra], undefined);
      const noNode = byPolicy('the shoal-agent service account may only write with a token bound to a Pod on a Node: this token names no node');
      await refused(unbound.client.request('POST', resourcePath(nodeType), { body: { apiVersion: 'shoal.dev/v1alpha1', kind: 'Node', metadata: { name: 'nr-node-c' }, spec: {} } }), noNode);
      await refused(renewLease(unbound.client, 'nr-node-a', 40), noNode);
      await refused(addFinalizer(unbound.client, workloadType, await getWorkload('bound-to-a'), agentFinalizer), noNode);
      // Impersonation carries no extra at all (request.userInfo.extra is absent, not empty): the same refusal.
      const impersonated = await cp.kubectl([`--as=system:serviceaccount:${agentNamespace}:shoal-agent`, 'create', '--dry-run=server', '-f', '-'], { input: stringify({ apiVersion: 'shoal.dev/v1alpha1', kind: 'Node', metadata: { name: 'nr-node-a' }, spec: {} }) });
      assert.notEqual(impersonated.code, 0);
      assert.match(impersonated.stderr, /\(Forbidden\)/);
      assert.match(impersonated.stderr, noNode);
    } finally {
      await unbound.client.close();
    }
  });

  it('still refuses deleting Nodes and creating or deleting Workloads if RBAC were widened', async () => {
    const a = agent('nr-node-a').client;
    for (const args of [
      ['clusterrole', 'nr-test-widened', '--verb=create,delete', '--resource=nodes.shoal.dev,workloads.shoal.dev'],
      ['clusterrolebinding', 'nr-test-widened', '--clusterrole=nr-test-widened', `--serviceaccount=${agentNamespace}:shoal-agent`],
    ]) {
      const created = await cp.kubectl(['create', ...args]);
      assert.equal(created.code, 0, created.stderr);
    }
    try {
      const deleteNode = byPolicy('agent on node nr-node-a may not delete Nodes \\(nr-node-a\\)');
      await waitFor(() => refused(a.request('DELETE', resourcePath(nodeType, undefined, 'nr-node-a'), { query: { dryRun: 'All' } }), deleteNode).then(() => true), { what: 'the widened role to apply' });
      await refused(a.request('DELETE', resourcePath(nodeType, undefined, 'nr-node-b')), byPolicy('agent on node nr-node-a may not delete Nodes \\(nr-node-b\\)'));
      const createOrDelete = byPolicy(`agent on node nr-node-a may not create or delete Workloads \\(${ns}/bound-to-a\\)`);
      await refused(a.request('DELETE', resourcePath(workloadType, ns, 'bound-to-a')), createOrDelete);
      await refused(a.request('POST', resourcePath(workloadType, ns), { body: { apiVersion: 'shoal.dev/v1alpha1', kind: 'Workload', metadata: { name: 'made-by-agent' }, spec: { image: 'x' } } }), byPolicy(`agent on node nr-node-a may not create or delete Workloads \\(${ns}/made-by-agent\\)`));
    } finally {
      await cp.kubectl(['delete', 'clusterrolebinding/nr-test-widened', 'clusterrole/nr-test-widened']);
    }
  });

  describe('the real agent binary under its own token', () => {
    let env: NodeEnv;
    let agentProcess: ShoalProcess | undefined;

    before(async () => {
      for (const w of ['bound-to-a', 'bound-to-b']) await deleteWorkload(w);
      // Start from nothing, so registration and the first heartbeat take their create paths.
      await deleteIfPresent(resourcePath(nodeType, undefined, 'nr-node-a'));
      await deleteIfPresent(resourcePath(coreTypes.lease, nodeLeaseNamespace, 'nr-node-a'));
      env = await startNodeEnv({ dir: join(dir, 'env'), nodes: 1, logger: quiet });
      const node = env.nodes[0]!;
      agentProcess = await startAgent({ node: 'nr-node-a', kubeconfig: agent('nr-node-a').kubeconfig, containerdAddress: node.containerd.address, runcRoot: node.containerd.runcRoot, stateDir: join(dir, 'state') });
    });

    afterEach(function () {
      if (this.currentTest?.state === 'failed' && agentProcess) console.log(`--- agent nr-node-a (last 40 lines)\n${agentProcess.output().trim().split('\n').slice(-40).join('\n')}`);
    });

    after(async () => {
      await agentProcess?.stop('SIGTERM');
      await env?.stop({ purge: true });
    });

    it('registers its Node Ready and renews its Lease', async () => {
      const node = await waitFor(async () => {
        const n = await admin.request<Node>('GET', resourcePath(nodeType, undefined, 'nr-node-a'));
        return findCondition(n.status?.conditions, 'Ready')?.status === 'True' && n;
      }, { what: 'nr-node-a Ready', timeoutMs: 60_000, intervalMs: 250 });
      assert.ok(node.metadata.managedFields?.some((f) => f.manager === 'shoal-agent/nr-node-a' && f.subresource === 'status'));
      const first = await admin.request<Lease>('GET', resourcePath(coreTypes.lease, nodeLeaseNamespace, 'nr-node-a'));
      await waitFor(async () => (await admin.request<Lease>('GET', resourcePath(coreTypes.lease, nodeLeaseNamespace, 'nr-node-a'))).spec?.renewTime !== first.spec?.renewTime, { what: 'a Lease renewal', timeoutMs: 15_000, intervalMs: 250 });
    });

    it('runs a Workload bound to it (finalizer, status), serves its logs to authorized callers, and lets it go on delete', async () => {
      await admin.request('POST', resourcePath(workloadType, ns), {
        body: { apiVersion: 'shoal.dev/v1alpha1', kind: 'Workload', metadata: { name: 'runs-on-a', namespace: ns }, spec: { image: `${env.registry.host}/shoal/busybox:1.36`, command: ['sh', '-c', 'echo ok'], restartPolicy: 'Never' } },
      });
      await admin.request('PATCH', resourcePath(workloadType, ns, 'runs-on-a', 'status'), { contentType: ContentType.mergePatch, body: { status: { nodeName: 'nr-node-a' } } });
      const done = await waitFor(async () => {
        const w = await getWorkload('runs-on-a');
        return w.status?.phase === 'Succeeded' && w;
      }, { what: 'runs-on-a Succeeded', timeoutMs: 60_000, intervalMs: 250 });
      assert.ok(done.metadata.finalizers?.includes(agentFinalizer));
      // The logs endpoint authenticates and authorizes its callers with the agent's own identity.
      const endpoint = (await admin.request<Node>('GET', resourcePath(nodeType, undefined, 'nr-node-a'))).status?.agentEndpoint;
      assert.ok(endpoint, 'the agent publishes its logs endpoint in its own Node status');
      const dispatcher = new Agent({ connect: { ca: endpoint.caBundle } });
      try {
        const logs = (user: string): ReturnType<typeof fetch> => fetch(`${endpoint.url}/v1/logs/${ns}/runs-on-a`, { dispatcher, headers: { authorization: `Bearer ${cp.tokenFor(user)}` } });
        const allowed = await logs('admin');
        assert.equal(allowed.status, 200, await allowed.clone().text());
        assert.match(await allowed.text(), /^ok$/m);
        const denied = await logs('alice');
        assert.equal(denied.status, 403, await denied.text());
      } finally {
        await dispatcher.close();
      }
      await admin.request('DELETE', resourcePath(workloadType, ns, 'runs-on-a'));
      await waitFor(() => getWorkload('runs-on-a').then(() => false, (err: unknown) => isNotFound(err)), { what: 'the agent to remove its finalizer', timeoutMs: 30_000 });
      assert.doesNotMatch(agentProcess!.output(), /forbidden|denied request/i, 'every call the agent made was allowed');
    });
  });
});
