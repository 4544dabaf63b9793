// The hosts.toml applier (agents/mirror/policy-applier.ts) on a real temporary certs.d: installs for the
// registries in effect, restores the ones that leave byte for byte, retries after a failure, and restoreAll.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { HostsTomlWriter } from '../../agents/mirror/hosts-toml.ts';
import { HostsTomlApplier, restoreAllHostsToml } from '../../agents/mirror/policy-applier.ts';
import { effectiveMirrorConfig, type EffectiveMirrorConfig } from '../../agents/mirror/policy.ts';
import type { MirrorPolicySpec } from '../../operator/src/api/generated/types.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';

const logger = createLogger({}, { level: 'error' });

const config = (spec: Partial<MirrorPolicySpec>): EffectiveMirrorConfig => {
  const c = effectiveMirrorConfig([{ apiVersion: 'shoal.dev/v1alpha1', kind: 'MirrorPolicy', metadata: { name: 'p', creationTimestamp: new Date('2026-01-01T00:00:00Z') }, spec: { registries: [], ...spec } }], {});
  assert.ok(c);
  return c;
};

async function until(what: string, test: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('hosts.toml applier', () => {
  let dir: string;
  let stop: AbortController;
  let metrics: Registry;
  // Invalid UTF-8 and no final newline: restoration must still be exact.
  const original = Buffer.concat([Buffer.from('# site config\nserver = "https://mirror.corp"\n\n[host."https://mirror.corp"]\n  capabilities = ["pull"]\n  # caf'), Buffer.from([0xe9, 0xff])]);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-applier-'));
    await mkdir(join(dir, 'docker.io'));
    await writeFile(join(dir, 'docker.io', 'hosts.toml'), original);
    stop = new AbortController();
    metrics = new Registry();
  });

  afterEach(async () => {
    stop.abort();
    await chmod(dir, 0o755).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('does nothing before the first configuration, then installs, switches tag capability and restores exactly', async () => {
    const applier = new HostsTomlApplier({ writer: new HostsTomlWriter({ certsDir: dir }), logger, metrics, mirrorUrl: () => 'http://127.0.0.1:5050' });
    const running = applier.run(stop.signal);
    await sleep(50);
    assert.deepEqual(await readdir(dir), ['docker.io']);
    assert.equal(applier.state().synced, false);

    applier.update(config({ registries: [{ host: 'docker.io' }, { host: 'localhost:5000' }] }));
    await until('installed', () => applier.state().synced);
    const docker = await readFile(join(dir, 'docker.io', 'hosts.toml'), 'latin1');
    assert.ok(docker.indexOf('[host."http://127.0.0.1:5050"]') < docker.indexOf('[host."https://mirror.corp"]'), 'the mirror goes first');
    assert.match(docker, /capabilities = \["pull", "resolve"\]/);
    assert.match(docker, /^server = "https:\/\/mirror.corp"$/m);
    assert.match(await readFile(join(dir, 'localhost:5000', 'hosts.toml'), 'utf8'), /\[host."http:\/\/127.0.0.1:5050"\]/);
    assert.match(await metrics.metrics(), /shoal_mirror_hosts_toml_registries 2/);

    applier.update(config({ registries: [{ host: 'docker.io' }], tags: { resolve: false } }));
    await until('localhost:5000 restored', async () => !(await readdir(dir)).includes('localhost:5000'));
    await until('pull-only capability', async () => /^ {2}capabilities = \["pull"\]\n# <<< shoal/m.test(await readFile(join(dir, 'docker.io', 'hosts.toml'), 'latin1')));

    applier.update(undefined);
    await until('docker.io restored', async () => (await readFile(join(dir, 'docker.io', 'hosts.toml'))).equals(original));
    assert.deepEqual((await readdir(join(dir, 'docker.io'))).sort(), ['hosts.toml'], 'no backup or state left');
    assert.equal(applier.state().applied, undefined);
    stop.abort();
    await running;
  });

  it('reports a failure and retries until it succeeds', async () => {
    const applier = new HostsTomlApplier({ writer: new HostsTomlWriter({ certsDir: dir }), logger, metrics, mirrorUrl: () => 'http://127.0.0.1:5050' });
    let changes = 0;
    applier.onChange(() => changes++);
    // The file already defines our mirror URL: the writer refuses (a duplicate table would break containerd).
    await writeFile(join(dir, 'docker.io', 'hosts.toml'), '[host."http://127.0.0.1:5050"]\n');
    const running = applier.run(stop.signal);
    applier.update(config({ registries: [{ host: 'docker.io' }] }));
    await until('the error', () => applier.state().error !== undefined);
    assert.match(applier.state().error ?? '', /docker\.io: .*already has a \[host/);
    await writeFile(join(dir, 'docker.io', 'hosts.toml'), original);
    await until('the retry to succeed', () => applier.state().synced, 10_000);
    assert.equal(applier.state().error, undefined);
    assert.ok(changes >= 2);
    assert.match(await metrics.metrics(), /shoal_mirror_hosts_toml_syncs_total\{result="error"\} [1-9]/);
    stop.abort();
    await running;
  });

  it('restoreAllHostsToml (uninstall) restores every managed registry', async () => {
    const writer = new HostsTomlWriter({ certsDir: dir });
    await writer.install('docker.io', { mirrors: ['http://127.0.0.1:5050'] });
    await writer.install('ghcr.io', { mirrors: ['http://127.0.0.1:5050'] });
    const result = await restoreAllHostsToml({ certsDir: dir, logger });
    assert.deepEqual(result, { restored: ['docker.io', 'ghcr.io'], failed: [] });
    assert.ok((await readFile(join(dir, 'docker.io', 'hosts.toml'))).equals(original));
    assert.deepEqual(await readdir(dir), ['docker.io']);
  });
});
