// The API as users meet it through kubectl: CRDs, samples, rejections at apply, get/explain, printer columns,
// and the install config accepted by a server-side dry run.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControlPlane } from '../../hack/controlplane.ts';
import { repoRoot, sharedControlPlane } from './fixture.ts';

const invalidDir = join(repoRoot, 'test/fixtures/invalid');

async function kubectlOk(cp: ControlPlane, args: string[], input?: string): Promise<string> {
  const result = await cp.kubectl(args, input === undefined ? {} : { input });
  assert.equal(result.code, 0, `kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

describe('the shoal.dev API through kubectl', function () {
  this.timeout(120_000);
  let cp: ControlPlane;

  before(async () => {
    cp = await sharedControlPlane();
  });

  it('installs the four CRDs and they become Established', async () => {
    const out = await kubectlOk(cp, ['get', 'crd', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}']);
    for (const crd of ['workloads.shoal.dev', 'nodes.shoal.dev', 'mirrorpolicies.shoal.dev', 'meshroutes.shoal.dev']) {
      assert.match(out, new RegExp(`^${crd.replace(/\./g, '\\.')}=True$`, 'm'), `${crd} Established`);
    }
  });

  // The shared control plane outlives this file: the samples (a MirrorPolicy selecting every node) must not
  // reach the agents of later tests.
  after(async () => {
    await cp?.kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', join(repoRoot, 'config/samples/')]);
  });

  it('applies every sample with `kubectl apply -f config/samples/` and with -k', async () => {
    const out = await kubectlOk(cp, ['apply', '-f', join(repoRoot, 'config/samples/')]);
    for (const kind of ['workload', 'node', 'mirrorpolicy', 'meshroute']) assert.match(out, new RegExp(`^${kind}\\.shoal\\.dev/\\S+ (created|configured|unchanged)$`, 'm'));
    await kubectlOk(cp, ['apply', '-k', join(repoRoot, 'config/samples/')]);
  });

  it('rejects at least 30 invalid objects at apply, each with a message naming the offending field', async () => {
    const files = (await readdir(invalidDir)).filter((f) => f.endsWith('.yaml')).sort();
    assert.ok(files.length >= 30, `only ${files.length} invalid fixtures`);
    const kinds = new Set<string>();
    const failures: string[] = [];
    for (const file of files) {
      const text = await readFile(join(invalidDir, file), 'utf8');
      const expect = /^# expect: (.+)$/m.exec(text)?.[1]?.trim();
      assert.ok(expect, `${file} has no "# expect:" line`);
      assert.match(expect, /(spec|metadata|status)\.|spec:|metadata\.name/, `${file}: the expectation must name a field`);
      kinds.add(/^kind: (\w+)$/m.exec(text)?.[1] ?? '?');
      const result = await cp.kubectl(['create', '--dry-run=server', '-f', '-'], { input: text });
      if (result.code === 0) failures.push(`${file}: accepted`);
      else if (!result.stderr.includes(expect)) failures.push(`${file}: expected "${expect}" in: ${result.stderr.trim()}`);
    }
    assert.deepEqual(failures, []);
    assert.deepEqual([...kinds].sort(), ['MeshRoute', 'MirrorPolicy', 'Node', 'Workload']);
  });

  it('lists every kind under `kubectl get shoal`', async () => {
    const out = await kubectlOk(cp, ['get', 'shoal', '-A', '-o', 'name']);
    for (const kind of ['workload', 'node', 'mirrorpolicy', 'meshroute']) assert.match(out, new RegExp(`^${kind}\\.shoal\\.dev/`, 'm'));
  });

  it('explains workload.spec with field descriptions', async () => {
    const out = await kubectlOk(cp, ['explain', 'workload.spec']);
    assert.match(out, /GROUP:\s+shoal\.dev/);
    for (const field of ['image', 'restartPolicy', 'resources', 'nodeSelector', 'tolerations', 'scheduling']) assert.match(out, new RegExp(`^\\s+${field}\\s`, 'm'), `explain lists ${field}`);
    const restart = await kubectlOk(cp, ['explain', 'workload.spec.restartPolicy']);
    assert.match(restart, /Always/);
    assert.match(restart, /OnFailure/);
  });

  it('shows the printer columns, and short names resolve', async () => {
    const workloads = await kubectlOk(cp, ['get', 'wl', '-A']);
    assert.match(workloads.split('\n')[0] ?? '', /^NAMESPACE\s+NAME\s+READY\s+PHASE\s+REASON\s+NODE\s+RESTARTS\s+AGE$/);
    const nodes = await kubectlOk(cp, ['get', 'snode']);
    assert.match(nodes.split('\n')[0] ?? '', /^NAME\s+READY\s+WORKLOADS\s+CPU\s+/);
    const policies = await kubectlOk(cp, ['get', 'mp', '-o', 'wide']);
    assert.match(policies.split('\n')[0] ?? '', /READY.*NODES.*REGISTRIES/);
    const routes = await kubectlOk(cp, ['get', 'mr', '-A']);
    assert.match(routes.split('\n')[0] ?? '', /READY\s+MODE/);
  });

  it('keeps `kubectl get nodes` the core kind', async () => {
    const result = await cp.kubectl(['get', 'nodes', '-o', 'jsonpath={.apiVersion}']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'v1');
  });

  it('accepts the install config (`kubectl apply --dry-run=server -k config/default`)', async () => {
    // Namespaces exist in a real install before their contents; a dry run cannot create them.
    for (const ns of ['shoal-system', 'shoal-node-lease']) {
      await cp.kubectl(['create', 'namespace', ns]);
    }
    const out = await kubectlOk(cp, ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-k', join(repoRoot, 'config/default')]);
    for (const object of ['deployment.apps/shoal-operator', 'daemonset.apps/shoal-agent', 'clusterrole.rbac.authorization.k8s.io/shoal-operator', 'customresourcedefinition.apiextensions.k8s.io/workloads.shoal.dev']) {
      assert.match(out, new RegExp(`^${object.replace(/\./g, '\\.')} serverside-applied \\(server dry run\\)$`, 'm'), `${object} in:\n${out}`);
    }
  });
});
