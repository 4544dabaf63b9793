// The agent's test environment itself: real containerd (CRI) instances pulling the images we build
// from a real registry, checked over gRPC the way the agent will talk to them.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { listNetns, mountsUnder } from '../../hack/containerd.ts';
import { startNodeEnv, type EnvNode, type NodeEnv } from '../../hack/env.ts';
import { buildBusyboxImage, mediaTypes, standardImages } from '../../hack/images.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { ContainerdClient } from '../../agents/runtime/containerd/client.ts';
import type { CriImage } from '../../agents/runtime/containerd/cri.ts';

const logger = createLogger({ component: 'nodeenv-test' });

/** The checks below, through the agent's own containerd client (containerd Version and CRI ImageService). */
class NodeClients {
  readonly #client: Promise<ContainerdClient>;
  constructor(node: EnvNode) {
    this.#client = ContainerdClient.connect({ address: node.containerd.address, namespace: 'k8s.io', logger, timeoutMs: 120_000 });
  }
  close(): void {
    void this.#client.then((c) => c.close());
  }
  async containerdVersion(): Promise<{ version: string; revision: string }> {
    return (await this.#client).version();
  }
  async pull(ref: string): Promise<string> {
    return (await (await this.#client).cri.pullImage(ref)).imageRef;
  }
  async status(ref: string): Promise<CriImage | null> {
    return (await (await this.#client).cri.imageStatus(ref)) ?? null;
  }
}

// ---------------------------------------------------------------------------------------------

function pidsMentioning(paths: string[]): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (paths.some((p) => cmdline.includes(p))) found.push(Number(entry));
  }
  return found;
}

function hostInterfaces(): string[] {
  return readdirSync('/sys/class/net');
}

function anyFailed(suite: Mocha.Suite | undefined): boolean {
  return !!suite && (suite.tests.some((t) => t.state === 'failed') || suite.suites.some(anyFailed));
}

async function pullAndCheck(clients: NodeClients, env: NodeEnv, name: string): Promise<{ ms: number; image: CriImage }> {
  const seeded = env.images[name];
  assert.ok(seeded, `${name} was seeded`);
  const began = performance.now();
  const imageRef = await clients.pull(seeded.ref);
  const ms = Math.round(performance.now() - began);
  // CRI's image id is the config digest; the repo digest names the manifest.
  assert.equal(imageRef, seeded.image.configDigest);
  const image = await clients.status(seeded.ref);
  assert.ok(image, `ImageStatus(${seeded.ref}) reports the image`);
  assert.equal(image.id, seeded.image.configDigest);
  assert.ok(image.repoTags.includes(seeded.ref), `repoTags ${image.repoTags} include ${seeded.ref}`);
  assert.ok(image.repoDigests.includes(`${env.registry.host}/${seeded.repo}@${seeded.digest}`), `repoDigests ${image.repoDigests} name manifest ${seeded.digest}`);
  return { ms, image };
}

/** Stops the env and asserts nothing of it is left: processes, mounts, netns, veths. */
async function stopAndCheckClean(env: NodeEnv): Promise<void> {
  const addresses = env.nodes.map((n) => n.containerd.dir);
  const netns = [env.registryNetns?.name, ...env.nodes.map((n) => n.containerd.netns?.name)].filter((n): n is string => !!n);
  const interfaces = [env.registryNetns?.hostInterface, ...env.nodes.map((n) => n.containerd.netns?.hostInterface)].filter((n): n is string => !!n);
  const pids = [env.registry.pid, ...env.nodes.map((n) => n.containerd.pid)];
  assert.ok(pids.every((p) => p !== undefined), 'all running before stop');
  await env.stop();
  assert.deepEqual(pidsMentioning([env.dir, ...addresses]), [], 'no process refers to the env dirs');
  for (const pid of pids) assert.throws(() => process.kill(pid as number, 0), /ESRCH/, `pid ${pid} is gone`);
  for (const dir of [env.dir, ...addresses]) assert.deepEqual(mountsUnder(dir), [], `nothing mounted under ${dir}`);
  const leftNetns = await listNetns();
  for (const name of netns) assert.ok(!leftNetns.includes(name), `netns ${name} deleted`);
  const leftInterfaces = hostInterfaces();
  for (const name of interfaces) assert.ok(!leftInterfaces.includes(name), `veth ${name} deleted`);
}

// ---------------------------------------------------------------------------------------------

describe('test images (hack/images.ts)', function () {
  this.timeout(120_000);

  it('builds deterministically, with diff_ids over the uncompressed tars', async () => {
    const a = await buildBusyboxImage({ extraFiles: { '/etc/motd': 'hello\n' }, extraLayerSizeBytes: 1 << 20, tag: 'det' });
    const b = await buildBusyboxImage({ extraFiles: { '/etc/motd': 'hello\n' }, extraLayerSizeBytes: 1 << 20, tag: 'det' });
    assert.equal(a.manifestDigest, b.manifestDigest);
    assert.deepEqual(
      a.layers.map((l) => l.digest),
      b.layers.map((l) => l.digest),
    );
    assert.equal(a.layers.length, 2);
    assert.equal(a.manifest.mediaType, mediaTypes.manifest);
    for (const [i, layer] of a.layers.entries()) {
      assert.equal(layer.mediaType, mediaTypes.layerGzip);
      assert.equal(`sha256:${createHash('sha256').update(layer.data).digest('hex')}`, layer.digest);
      const tar = gunzipSync(layer.data);
      assert.equal(`sha256:${createHash('sha256').update(tar).digest('hex')}`, a.config.rootfs.diff_ids[i]);
    }
    // The random blob does not compress, and another tag gives other bytes.
    assert.ok((a.layers[1]?.size ?? 0) > 1 << 20);
    const c = await buildBusyboxImage({ extraLayerSizeBytes: 1 << 20, tag: 'other' });
    assert.notEqual(c.layers[1]?.digest, a.layers[1]?.digest);
    assert.deepEqual(a.config.config.Cmd, ['sh']);
    const base = gunzipSync(a.layers[0]?.data ?? Buffer.alloc(0)).toString('latin1');
    for (const name of ['bin/busybox', 'bin/sh', 'bin/wget', 'etc/passwd', 'etc/group', 'tmp/']) assert.ok(base.includes(`${name}\0`), `base layer has ${name}`);
  });
});

describe('node environment on loopback (hack/env.ts)', function () {
  this.timeout(300_000);
  let dir: string;
  let env: NodeEnv | undefined;
  let clients: NodeClients[] = [];

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'shoal-env-'));
    const began = performance.now();
    env = await startNodeEnv({ dir, nodes: 2, logger: logger.child({ env: 'loopback' }) });
    logger.info('env started', { ms: Math.round(performance.now() - began) });
    clients = env.nodes.map((n) => new NodeClients(n));
  });

  after(async function () {
    for (const c of clients) c.close();
    const failed = anyFailed(this.test?.parent);
    await env?.stop({ purge: !failed }).catch((err: unknown) => logger.error('env stop failed', { err }));
    if (!failed && !process.env['SHOAL_KEEP_TMP']) await rm(dir, { recursive: true, force: true });
    else logger.info('kept node env dir', { dir });
  });

  it('registry serves the seeded manifests with the right Docker-Content-Digest', async () => {
    assert.ok(env);
    const seeded = env.images[standardImages.busybox];
    assert.ok(seeded);
    assert.equal(env.images[standardImages.busyboxLatest]?.digest, seeded.digest, ':latest is the same image');
    assert.match(env.registry.host, /^127\.0\.0\.1:\d+$/);
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(`${env.registry.url}/v2/shoal/busybox/manifests/1.36`, { method, headers: { accept: mediaTypes.manifest } });
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), seeded.digest);
      assert.equal(res.headers.get('content-type'), mediaTypes.manifest);
      if (method === 'GET') assert.equal(`sha256:${createHash('sha256').update(body).digest('hex')}`, seeded.digest);
    }
    const failing = env.images[standardImages.failing];
    const sleeper = env.images[standardImages.sleeper];
    assert.deepEqual(failing?.image.config.config.Cmd, ['sh', '-c', 'exit 3']);
    assert.deepEqual(sleeper?.image.config.config.Cmd, ['sleep', '3600']);
    assert.notEqual(failing?.digest, seeded.digest);
  });

  it('containerd answers Version over gRPC (1.6.x)', async () => {
    for (const c of clients) {
      const v = await c.containerdVersion();
      assert.match(v.version, /^v?1\.6\./);
    }
  });

  it('CRI pulls through hosts.toml on each instance; the instances are independent', async () => {
    assert.ok(env);
    const [a, b] = clients;
    assert.ok(a && b);
    const ref = env.images[standardImages.busybox]?.ref ?? '';
    assert.equal(await b.status(ref), null, 'nothing on B before the pull');
    const pullA = await pullAndCheck(a, env, standardImages.busybox);
    assert.equal(await b.status(ref), null, 'pulled on A, still not on B');
    const pullB = await pullAndCheck(b, env, standardImages.busybox);
    await pullAndCheck(a, env, standardImages.sleeper);
    assert.equal(await b.status(env.images[standardImages.sleeper]?.ref ?? ''), null);
    logger.info('CRI pulls', { nodeA: pullA.ms, nodeB: pullB.ms, size: pullA.image.size });
    // Where the content landed: A's own root, not B's.
    const blobs = (node: EnvNode): string[] => readdirSync(join(node.containerd.root, 'io.containerd.content.v1.content', 'blobs', 'sha256'));
    const layer = env.images[standardImages.busybox]?.image.layers[0]?.digest.slice('sha256:'.length) ?? '';
    assert.ok(blobs(env.nodes[0] as EnvNode).includes(layer), 'compressed layer kept (discard_unpacked_layers = false)');
  });

  it('restart keeps the socket, the dirs and the images', async () => {
    assert.ok(env);
    const node = env.nodes[0] as EnvNode;
    const before = node.containerd.pid;
    const began = performance.now();
    await node.containerd.restart();
    logger.info('containerd restart', { ms: Math.round(performance.now() - began) });
    assert.notEqual(node.containerd.pid, before);
    const c = clients[0] as NodeClients;
    assert.match((await c.containerdVersion()).version, /^v?1\.6\./);
    assert.ok(await c.status(env.images[standardImages.busybox]?.ref ?? ''), 'image survives the restart');
  });

  it('stop() leaves no process, mount or netns behind (shims and leftover mounts included)', async () => {
    assert.ok(env);
    for (const c of clients) c.close();
    clients = [];
    // What containers leave behind, without running one: a mount under state/ and a "shim" in a
    // process group of its own, with a child (a shim's container), naming our socket as shims do.
    const node = env.nodes[1] as EnvNode;
    const mountPoint = join(node.containerd.state, 'leftover');
    mkdirSync(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mountPoint]);
    assert.deepEqual(mountsUnder(node.containerd.dir), [mountPoint]);
    const shim = spawn('sh', ['-c', 'sleep 1000; :', '-address', node.containerd.address], { argv0: 'containerd-shim-runc-v2', detached: true, stdio: 'ignore' });
    const shimExited = once(shim, 'exit');
    let child: number | undefined;
    for (let i = 0; i < 100 && child === undefined; i++) {
      child = readdirSync('/proc')
        .filter((e) => /^\d+$/.test(e))
        .map(Number)
        .find((pid) => statOf(pid)?.ppid === shim.pid);
      if (child === undefined) await sleep(20);
    }
    assert.ok(child, 'fake shim forked its child');
    await stopAndCheckClean(env);
    await shimExited;
    assert.ok(statOf(child) === undefined || statOf(child)?.state === 'Z', 'the shim\'s child is gone');
  });
});

function statOf(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state ?? '', ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

describe('node environment in network namespaces (hack/env.ts netns: true)', function () {
  this.timeout(300_000);
  let dir: string;
  let env: NodeEnv | undefined;
  let clients: NodeClients[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // ip netns needs root
    dir = await mkdtemp(join(tmpdir(), 'shoal-envns-'));
    env = await startNodeEnv({ dir, nodes: 2, netns: true, logger: logger.child({ env: 'netns' }) });
    clients = env.nodes.map((n) => new NodeClients(n));
  });

  after(async function () {
    for (const c of clients) c.close();
    if (!env) return;
    const failed = anyFailed(this.test?.parent);
    await env.stop({ purge: !failed }).catch((err: unknown) => logger.error('env stop failed', { err }));
    if (!failed && !process.env['SHOAL_KEEP_TMP']) await rm(dir, { recursive: true, force: true });
  });

  it('each node pulls from the registry host through its veth', async () => {
    assert.ok(env);
    assert.match(env.registry.host, /^10\.231\.\d+\.\d+:\d+$/);
    const ips = env.nodes.map((n) => n.ip);
    assert.ok(ips.every((ip) => ip?.startsWith('10.231.')), `node ips ${ips}`);
    assert.equal(new Set(ips).size, ips.length);
    for (const c of clients) {
      assert.match((await c.containerdVersion()).version, /^v?1\.6\./);
      await pullAndCheck(c, env, standardImages.busybox);
    }
  });

  it('stop() deletes the netns and veths and leaves nothing running', async () => {
    assert.ok(env);
    for (const c of clients) c.close();
    clients = [];
    await stopAndCheckClean(env);
  });
});
