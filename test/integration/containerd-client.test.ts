// The agent's containerd client layer (agents/runtime/containerd) against a real containerd 1.6 with CRI,
// pulling from a real registry (hack/env.ts): pull → chain ID → snapshot → container → task → events →
// cleanup, re-adoption by label after reconnecting, signals, and a containerd restart under a running task.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectCgroup, type CgroupInfo } from '../../agents/runtime/containerd/cgroup.ts';
import { ContainerdClient } from '../../agents/runtime/containerd/client.ts';
import { runcOptions } from '../../agents/runtime/containerd/containers.ts';
import { isAlreadyExists, isNotFound, isUnavailable } from '../../agents/runtime/containerd/errors.ts';
import type { EventEnvelope } from '../../agents/runtime/containerd/events.ts';
import { labelEquals, topicMatches } from '../../agents/runtime/containerd/filters.ts';
import { chainIds, resolveImage, type ResolvedImage } from '../../agents/runtime/containerd/image.ts';
import { buildSpec, type SpecInput } from '../../agents/runtime/containerd/spec.ts';
import { stdioFile } from '../../agents/runtime/containerd/tasks.ts';
import { startNodeEnv, type EnvNode, type NodeEnv } from '../../hack/env.ts';
import { standardImages } from '../../hack/images.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { waitFor } from './fixture.ts';

const logger = createLogger({ component: 'containerd-client-test' });
const workloadLabel = 'shoal.dev/workload-uid';

/**
 * The log file once every pattern shows, or as it is after 5 s (the caller's asserts then say what is missing):
 * the shim copies stdout and stderr on goroutines of their own, so the last bytes may land just after the exit.
 */
async function logShowing(path: string, patterns: RegExp[]): Promise<string> {
  return waitFor(async () => {
    const content = await readFile(path, 'utf8');
    return patterns.every((p) => p.test(content)) && content;
  }, { what: `${path} to show ${patterns.join(', ')}`, timeoutMs: 5_000, intervalMs: 50 }).catch(() => readFile(path, 'utf8'));
}

describe('containerd client (real containerd + CRI)', function () {
  this.timeout(180_000);

  let dir: string;
  let env: NodeEnv;
  let node: EnvNode;
  let client: ContainerdClient;
  let cgroup: CgroupInfo;
  let imageRef: string;
  let image: ResolvedImage;
  const created = new Set<string>();

  const connect = (): Promise<ContainerdClient> =>
    ContainerdClient.connect({ address: node.containerd.address, namespace: node.containerd.namespace, logger: logger.child({ client: true }) });

  /** Lease → prepare rootfs snapshot → create container (→ drop lease: the container now references the snapshot). */
  async function createContainer(id: string, spec: Partial<SpecInput> & { command: string[] }, labels: Record<string, string> = {}) {
    const lease = await client.leases.create({ expiresInMs: 60_000 });
    const leased = client.withLease(lease.id);
    try {
      const mounts = await leased.snapshots.prepare(node.containerd.snapshotter, id, image.chainId);
      await leased.containers.create({
        id,
        labels,
        image: imageRef,
        runtime: { name: 'io.containerd.runc.v2', options: runcOptions({ root: node.containerd.runcRoot }) },
        spec: buildSpec({ id, image: image.imageConfig, cgroup, ...spec }),
        snapshotter: node.containerd.snapshotter,
        snapshotKey: id,
      });
      created.add(id);
      return mounts;
    } finally {
      await client.leases.delete(lease.id);
    }
  }

  /** Kill, delete task, container and snapshot; anything already gone is fine. */
  async function destroy(c: ContainerdClient, id: string): Promise<void> {
    const ignoreNotFound = (err: unknown): void => {
      if (!isNotFound(err)) throw err;
    };
    try {
      const task = await c.tasks.get(id);
      if (task.status !== 'stopped') {
        await c.tasks.kill(id, 'SIGKILL', { all: true });
        await c.tasks.wait(id, { timeoutMs: 10_000 });
      }
      await c.tasks.delete(id);
    } catch (err) {
      ignoreNotFound(err);
    }
    await c.containers.delete(id).catch(ignoreNotFound);
    await c.snapshots.remove(node.containerd.snapshotter, id).catch(ignoreNotFound);
    created.delete(id);
  }

  /**
   * Subscribes (to `filters` plus container events) and returns once the subscription provably receives
   * events — containerd sends no acknowledgement — by touching a throwaway container record until its
   * ContainerUpdate arrives.
   */
  async function liveSubscription(filters: string[]): Promise<{ events: EventEnvelope[]; stop: () => Promise<void> }> {
    const stream = client.events.subscribe([...filters, topicMatches('/containers/')]);
    const events: EventEnvelope[] = [];
    const pump = (async () => {
      for await (const envelope of stream) events.push(envelope);
    })();
    const probe = `probe-${process.pid}-${Date.now()}`;
    await client.containers.create({ id: probe, spec: { ociVersion: '1.0.2-dev' } });
    try {
      const seenProbe = (): boolean => events.some((e) => e.event.type === 'ContainerUpdate' && e.event.id === probe);
      for (let i = 0; !seenProbe(); i++) {
        assert.ok(i < 100, 'event subscription never delivered the probe ContainerUpdate');
        await client.containers.updateLabels(probe, { 'shoal.dev/probe': String(i) });
        await sleep(100);
      }
    } finally {
      await client.containers.delete(probe);
    }
    return {
      events,
      stop: async () => {
        stream.cancel();
        await pump;
      },
    };
  }

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'shoal-ctdclient-'));
    env = await startNodeEnv({ dir, nodes: 1, logger });
    const first = env.nodes[0];
    assert.ok(first);
    node = first;
    const seeded = env.images[standardImages.busybox];
    assert.ok(seeded, 'registry seeded with shoal/busybox:1.36');
    imageRef = seeded.ref;
    cgroup = await detectCgroup();
    client = await connect();
  });

  after(async function () {
    if (client) {
      for (const id of [...created]) await destroy(client, id).catch((err: unknown) => logger.warn('cleanup failed', { id, err }));
      client.close();
    }
    const failed = this.test?.parent?.tests.some((t) => t.state === 'failed') ?? false;
    if (env) await env.stop({ purge: !failed && !process.env['SHOAL_KEEP_TMP'] });
    if (dir && !failed && !process.env['SHOAL_KEEP_TMP']) await rm(dir, { recursive: true, force: true });
    else if (dir) logger.info('kept test dir', { dir });
  });

  it('reports the containerd version', async () => {
    const version = await client.version();
    assert.match(version.version, /^v?1\.|^v?2\./, JSON.stringify(version));
    logger.info('containerd version', { ...version });
  });

  it('pulls through CRI and resolves the image to the chain ID of a committed snapshot', async () => {
    const { imageRef: id } = await client.cri.pullImage(imageRef);
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const status = await client.cri.imageStatus(imageRef);
    assert.equal(status?.id, id);
    assert.ok(status.repoTags.includes(imageRef));
    assert.equal(await client.cri.imageStatus(`${imageRef}-missing`), undefined);
    assert.ok((await client.cri.listImages()).some((i) => i.id === id));

    image = await resolveImage(client, imageRef);
    assert.equal(image.config.digest, id, 'CRI image id is the config digest');
    const seeded = env.images[standardImages.busybox];
    assert.deepEqual(image.diffIds, seeded?.image.config.rootfs.diff_ids);
    assert.equal(image.chainId, chainIds(image.diffIds).at(-1));
    const top = await client.snapshots.stat(node.containerd.snapshotter, image.chainId);
    assert.equal(top.kind, 'committed');
    const record = await client.images.get(imageRef);
    assert.equal(record.target.digest, image.manifest.digest);
    const manifestInfo = await client.content.info(image.manifest.digest);
    assert.equal(manifestInfo.size, image.manifest.size);
    let streamed = 0;
    for await (const chunk of client.content.read(image.layers[0]?.digest ?? '')) streamed += chunk.length;
    assert.equal(streamed, image.layers[0]?.size);
    assert.deepEqual(await client.content.listStatuses(), [], 'no ingest left in progress after the pull');

    // A new tag of the same image: CRI creates an image record, and the ImageCreate event decodes.
    const latest = env.images[standardImages.busyboxLatest]?.ref;
    assert.ok(latest);
    const sub = await liveSubscription([topicMatches('/images/')]);
    try {
      assert.equal((await client.cri.pullImage(latest)).imageRef, id);
      for (let i = 0; i < 50 && !sub.events.some((e) => e.event.type === 'ImageCreate'); i++) await sleep(50);
    } finally {
      await sub.stop();
    }
    const created = sub.events.find((e) => e.event.type === 'ImageCreate' && e.event.name === latest);
    assert.ok(created, `ImageCreate for ${latest} (${sub.events.map((e) => e.topic).join(', ')})`);
    assert.equal(created.topic, '/images/create');
  });

  it('runs a container: file:// stdio, exit code 3, TaskStart/TaskExit events, full cleanup', async () => {
    const id = `ctd-run-${process.pid}`;
    const log = join(dir, 'logs', `${id}.log`);
    const mounts = await createContainer(id, { command: ['sh', '-c', 'echo hello; echo err >&2; exit 3'], resources: { cpuLimitMillis: 500, memoryLimitBytes: 64 * 1024 * 1024 } });
    const sub = await liveSubscription([topicMatches('/tasks/')]);
    try {
      const { pid } = await client.tasks.create({ containerId: id, rootfs: mounts, stdout: stdioFile(log), stderr: stdioFile(log) });
      assert.ok(pid > 0);
      assert.equal((await client.tasks.get(id)).status, 'created');
      await client.tasks.start(id);
      const exit = await client.tasks.wait(id);
      assert.equal(exit.exitStatus, 3);
      assert.equal(exit.signal, undefined);
      assert.ok(exit.exitedAt instanceof Date);
      const task = await client.tasks.get(id);
      assert.equal(task.status, 'stopped');
      assert.equal(task.exitStatus, 3);
      const text = await logShowing(log, [/^hello$/m, /^err$/m]);
      assert.match(text, /^hello$/m);
      assert.match(text, /^err$/m, 'stderr goes to the stdout file with file:// stdio');

      const deleted = await client.tasks.delete(id);
      assert.equal(deleted.exitStatus, 3);
      await client.containers.delete(id);
      // Deleting the container schedules containerd's GC, which may collect the now-unreferenced snapshot first.
      await client.snapshots.remove(node.containerd.snapshotter, id).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
      created.delete(id);
      for (let i = 0; i < 50 && !sub.events.some((e) => e.event.type === 'TaskDelete'); i++) await sleep(50);
    } finally {
      await sub.stop();
    }
    const mine = sub.events.filter((e) => 'containerId' in e.event && e.event.containerId === id);
    const start = mine.find((e) => e.event.type === 'TaskStart');
    const exitEvent = mine.find((e) => e.event.type === 'TaskExit');
    assert.ok(start, `TaskStart seen (${mine.map((e) => e.topic).join(', ')})`);
    assert.equal(start.topic, '/tasks/start');
    assert.equal(start.namespace, 'k8s.io');
    assert.ok(exitEvent && exitEvent.event.type === 'TaskExit', 'TaskExit seen');
    assert.equal(exitEvent.event.exitStatus, 3);
    assert.ok(mine.indexOf(start) < mine.indexOf(exitEvent));

    assert.deepEqual(await client.tasks.list(), []);
    assert.deepEqual(await client.containers.list(), []);
    assert.deepEqual(await client.snapshots.list(node.containerd.snapshotter, ['kind==active']), []);
    assert.deepEqual(await client.leases.list(), []);
  });

  it('finds a labelled container again by label after reconnecting (re-adoption)', async () => {
    const id = `ctd-adopt-${process.pid}`;
    const uid = `uid-${process.pid}-${Date.now()}`;
    const mounts = await createContainer(id, { command: ['sleep', '600'] }, { [workloadLabel]: uid, 'shoal.dev/generation': '1', 'shoal.dev/draining': 'true' });
    await client.tasks.create({ containerId: id, rootfs: mounts });
    const { pid } = await client.tasks.start(id);
    client.close();

    client = await connect();
    assert.deepEqual(await client.containers.list([labelEquals(workloadLabel, 'someone-else')]), []);
    const found = await client.containers.list([labelEquals(workloadLabel, uid)]);
    assert.deepEqual(found.map((c) => c.id), [id]);
    assert.equal(found[0]?.labels['shoal.dev/generation'], '1');
    assert.equal(found[0]?.snapshotKey, id);
    const spec = found[0]?.spec;
    assert.equal(spec?.typeUrl, 'types.containerd.io/opencontainers/runtime-spec/1/Spec');
    const task = await client.tasks.get(id);
    assert.equal(task.status, 'running');
    assert.equal(task.pid, pid);
    const updated = await client.containers.updateLabels(id, { 'shoal.dev/generation': '2', 'shoal.dev/draining': null });
    assert.equal(updated.labels['shoal.dev/generation'], '2');
    assert.equal(updated.labels['shoal.dev/draining'], undefined);
    assert.equal(updated.labels[workloadLabel], uid);
    await destroy(client, id);
  });

  it('reports a SIGTERM kill as exit by signal (and PID 1 of a private PID namespace ignores SIGTERM)', async () => {
    const shared = `ctd-term-${process.pid}`;
    await client.tasks.create({ containerId: shared, rootfs: await createContainer(shared, { command: ['sleep', '600'], hostPid: true }) });
    await client.tasks.start(shared);
    const exiting = client.tasks.wait(shared);
    await client.tasks.kill(shared, 'SIGTERM');
    const exit = await exiting;
    assert.equal(exit.exitStatus, 128 + 15);
    assert.equal(exit.signal, 'SIGTERM');
    await destroy(client, shared);

    const isolated = `ctd-pid1-${process.pid}`;
    await client.tasks.create({ containerId: isolated, rootfs: await createContainer(isolated, { command: ['sleep', '600'] }) });
    await client.tasks.start(isolated);
    await client.tasks.kill(isolated, 'SIGTERM');
    await sleep(500);
    assert.equal((await client.tasks.get(isolated)).status, 'running', 'PID 1 without a handler ignores SIGTERM');
    await client.tasks.kill(isolated, 'SIGKILL');
    assert.equal((await client.tasks.wait(isolated)).signal, 'SIGKILL');
    await destroy(client, isolated);
  });

  it('keeps a task running across a containerd restart; a reconnected client sees it and waits for it', async () => {
    const id = `ctd-restart-${process.pid}`;
    const log = join(dir, 'logs', `${id}.log`);
    const mounts = await createContainer(id, { command: ['sh', '-c', 'trap "echo bye; exit 5" TERM; echo up; while true; do sleep 0.2; done'] });
    const { pid } = await client.tasks.create({ containerId: id, rootfs: mounts, stdout: stdioFile(log) });
    await client.tasks.start(id);
    const staleWait = client.tasks.wait(id).then(
      () => 'resolved',
      (err: unknown) => err,
    );

    await node.containerd.restart();
    const waitError = await staleWait;
    assert.ok(isUnavailable(waitError), `in-flight wait fails with UNAVAILABLE, got ${String(waitError)}`);

    client.close();
    client = await connect();
    const task = await client.tasks.get(id);
    assert.equal(task.status, 'running');
    assert.equal(task.pid, pid);
    const exiting = client.tasks.wait(id);
    await client.tasks.kill(id, 'SIGTERM');
    const exit = await exiting;
    assert.equal(exit.exitStatus, 5);
    const text = await logShowing(log, [/^up$/m, /^bye$/m]);
    assert.match(text, /^up$/m);
    assert.match(text, /^bye$/m, 'the shim kept writing the log across the restart');
    await destroy(client, id);
  });

  it('maps errors to typed ContainerdErrors', async () => {
    await assert.rejects(client.containers.get('does-not-exist'), (err: unknown) => isNotFound(err));
    await assert.rejects(client.tasks.get('does-not-exist'), (err: unknown) => isNotFound(err));
    await assert.rejects(client.snapshots.stat(node.containerd.snapshotter, 'does-not-exist'), (err: unknown) => isNotFound(err));
    await assert.rejects(client.images.get('example.invalid/none:1'), (err: unknown) => isNotFound(err));
    const id = `ctd-dup-${process.pid}`;
    await createContainer(id, { command: ['true'] });
    await assert.rejects(
      client.containers.create({ id, spec: { ociVersion: '1.0.2-dev' } }),
      (err: unknown) => isAlreadyExists(err),
    );
    await destroy(client, id);
    const other = client.withNamespace('shoal-empty');
    assert.deepEqual(await other.containers.list(), []);
  });

  it('removes an image through CRI (all its tags; idempotent)', async () => {
    const latest = env.images[standardImages.busyboxLatest]?.ref;
    assert.ok(latest);
    await client.cri.removeImage(latest);
    assert.equal(await client.cri.imageStatus(latest), undefined);
    assert.equal(await client.cri.imageStatus(imageRef), undefined, 'CRI removes every tag of the image');
    await client.cri.removeImage(latest);
    await assert.rejects(client.images.get(imageRef), (err: unknown) => isNotFound(err));
  });
});
