// Proves the local control plane harness: version, health, RBAC, TokenRequest, restarts, clean stop.
// Uses its own ControlPlane (not the shared one) because it restarts and stops the apiserver.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { Agent, request } from 'undici';
import { ControlPlane } from '../../hack/controlplane.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { makeKubeConfig, waitFor } from './fixture.ts';

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

describe('ControlPlane (real etcd + kube-apiserver)', function () {
  this.timeout(120_000); // starts and restarts real processes; .mocharc.json's 10 s is too short
  let cp: ControlPlane;
  let dir: string;
  let agent: Agent;

  async function call(method: 'GET' | 'POST', path: string, token: string, body?: unknown, server = cp.server): Promise<Reply> {
    const res = await request(`${server}${path}`, {
      method,
      dispatcher: agent,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.body.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { raw: text };
    }
    return { status: res.statusCode, body: parsed };
  }

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'shoal-cp-test-'));
    const began = performance.now();
    cp = await ControlPlane.start({ dir, logger: createLogger({ component: 'controlplane-test' }, { level: 'warn' }) });
    const ms = Math.round(performance.now() - began);
    console.log(`      control plane started in ${ms} ms at ${cp.server}`);
    // Verify TLS with the CA from the kubeconfig, exactly as clients do.
    agent = new Agent({ connect: { ca: cp.caPem } });
  });

  after(async function () {
    await cp?.stop();
    await agent?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves /version as v1.35.4 and /readyz ok over verified TLS', async function () {
    const version = await call('GET', '/version', cp.tokenFor('admin'));
    assert.equal(version.status, 200);
    assert.equal(version.body['gitVersion'], 'v1.35.4');
    const res = await request(`${cp.server}/readyz`, { dispatcher: agent, headers: { authorization: `Bearer ${cp.tokenFor('admin')}` } });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'ok');
  });

  it('writes a kubeconfig that verifies the serving certificate', function () {
    const kubeconfig = readFileSync(cp.kubeconfigPath, 'utf8');
    assert.match(kubeconfig, /certificate-authority-data: /);
    assert.doesNotMatch(kubeconfig, /insecure-skip-tls-verify/);
    assert.match(kubeconfig, new RegExp(`server: ${cp.server}`));
  });

  it('enforces RBAC: alice is forbidden to list namespaces, admin is not', async function () {
    const admin = makeKubeConfig(cp).makeApiClient(CoreV1Api);
    const namespaces = await admin.listNamespace();
    assert.ok(namespaces.items.some((ns) => ns.metadata?.name === 'default'));

    const alice = makeKubeConfig(cp, 'alice').makeApiClient(CoreV1Api);
    await assert.rejects(alice.listNamespace(), (err: unknown) => (err as { code?: number }).code === 403);

    const kubectl = await cp.kubectl(['get', 'namespaces'], { user: 'alice' });
    assert.equal(kubectl.code, 1);
    assert.match(kubectl.stderr, /Forbidden/);
    assert.throws(() => cp.kubeconfigFor('mallory'), /unknown control-plane user/);
  });

  it('mints ServiceAccount tokens with TokenRequest that authenticate', async function () {
    const created = await cp.kubectl(['create', 'serviceaccount', 'tester', '-n', 'default']);
    assert.equal(created.code, 0, created.stderr);
    const minted = await call('POST', '/api/v1/namespaces/default/serviceaccounts/tester/token', cp.tokenFor('admin'), {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 600 },
    });
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    const token = (minted.body['status'] as { token: string }).token;
    assert.ok(token.split('.').length === 3, 'a JWT');
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { iss: string; aud: string[] };
    assert.equal(claims.iss, cp.server);

    const review = await call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', token, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    });
    assert.equal(review.status, 201, JSON.stringify(review.body));
    const userInfo = (review.body['status'] as { userInfo: { username: string; groups: string[] } }).userInfo;
    assert.equal(userInfo.username, 'system:serviceaccount:default:tester');
    assert.ok(userInfo.groups.includes('system:serviceaccounts'));

    const bogus = await call('GET', '/api/v1/namespaces', 'not-a-token');
    assert.equal(bogus.status, 401);
  });

  it('keeps data and the port across stopApiserver/startApiserver', async function () {
    const created = await cp.kubectl(['create', 'configmap', 'before-restart', '-n', 'default', '--from-literal=k=v']);
    assert.equal(created.code, 0, created.stderr);
    const server = cp.server;

    const stopped = performance.now();
    await cp.stopApiserver();
    await assert.rejects(call('GET', '/version', cp.tokenFor('admin')));
    await cp.startApiserver();
    console.log(`      apiserver restarted in ${Math.round(performance.now() - stopped)} ms`);

    assert.equal(cp.server, server);
    const got = await cp.kubectl(['get', 'configmap', 'before-restart', '-n', 'default', '-o', 'jsonpath={.data.k}']);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, 'v');
  });

  it('runs an extra apiserver on the same etcd while the main one is down', async function () {
    await cp.stopApiserver();
    const extra = await cp.startExtraApiserver();
    try {
      assert.notEqual(extra.server, cp.server);
      const created = await call('POST', '/api/v1/namespaces/default/configmaps', cp.tokenFor('admin'), {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'while-down' },
        data: { via: 'extra' },
      }, extra.server);
      assert.equal(created.status, 201, JSON.stringify(created.body));
    } finally {
      await extra.stop();
    }
    await cp.startApiserver();
    const seen = await waitFor(async () => {
      const res = await call('GET', '/api/v1/namespaces/default/configmaps/while-down', cp.tokenFor('admin'));
      return res.status === 200 ? res.body : undefined;
    }, { timeoutMs: 10_000, what: 'configmap while-down on the main apiserver' });
    assert.deepEqual(seen['data'], { via: 'extra' });
  });

  it('stop() leaves no process behind and is idempotent', async function () {
    const pids = cp.pids();
    assert.equal(pids.length, 2, 'etcd and kube-apiserver');
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.pid')).sort(), ['etcd.pid', 'kube-apiserver.pid']);
    await cp.stop();
    await cp.stop();
    for (const pid of pids) {
      assert.throws(() => process.kill(pid, 0), (err: NodeJS.ErrnoException) => err.code === 'ESRCH', `pid ${pid} still exists`);
    }
    // Nothing else is running with this dir on its command line.
    const strays: string[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
        if (cmdline.includes(dir)) strays.push(`${entry}: ${cmdline}`);
      } catch {
        // exited meanwhile
      }
    }
    assert.deepEqual(strays, []);
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.pid')), []);
  });
});
