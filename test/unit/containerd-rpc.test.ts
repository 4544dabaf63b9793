// The client's transport against an in-process fake containerd (grpc-js server on a unix socket, same
// vendored protos): namespace/lease metadata, deadlines, error mapping, streams, event decoding.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { ContainerdClient } from '../../agents/runtime/containerd/client.ts';
import { isDeadlineExceeded, isNotFound, isUnavailable, ContainerdError, Status, isAlreadyExists } from '../../agents/runtime/containerd/errors.ts';
import { decodeEvent, eventDecoders, typeNameFromUrl, type EventEnvelope } from '../../agents/runtime/containerd/events.ts';
import { hasLabel, labelEquals, topicMatches } from '../../agents/runtime/containerd/filters.ts';
import { encodeMessage, hasMessage, protos } from '../../agents/runtime/containerd/protos.ts';
import { normalizeStdio, signalFromExitStatus, signalNumber, stdioFile } from '../../agents/runtime/containerd/tasks.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';

type Unary = (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => void;
type ServerStream = (call: grpc.ServerWritableStream<Record<string, unknown>, unknown>) => void;

const logger = createLogger({ component: 'containerd-rpc-test' }, { level: 'error' });
const blob = Buffer.alloc(4 * 1024 * 1024 + 17, 7);
const blobDigest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
const ts = (ms: number) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });

describe('containerd rpc (fake server)', () => {
  let dir: string;
  let socket: string;
  let server: grpc.Server;
  let client: ContainerdClient;
  const seen: { method: string; namespace: string | undefined; lease: string | undefined; request: Record<string, unknown> }[] = [];
  let subscribeCancelled = false;

  const record = (method: string, call: { metadata: grpc.Metadata; request: Record<string, unknown> }): void => {
    const first = (key: string): string | undefined => {
      const value = call.metadata.get(key)[0];
      return typeof value === 'string' ? value : undefined;
    };
    seen.push({ method, namespace: first('containerd-namespace'), lease: first('containerd-lease'), request: call.request });
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-rpc-'));
    socket = join(dir, 'containerd.sock');
    const { services } = protos();
    server = new grpc.Server();
    const version: Unary = (call, cb) => {
      record('Version', call);
      cb(null, { version: 'v1.6.20-fake', revision: 'abc' });
    };
    server.addService(services.version.service, { Version: version });
    const containers: Record<string, Unary> = {
      Get: (call, cb) => {
        record('Get', call);
        cb({ code: Status.NOT_FOUND, details: `container "${String(call.request['id'])}" in namespace "x": not found` });
      },
      Create: (call, cb) => {
        record('Create', call);
        cb({ code: Status.ALREADY_EXISTS, details: 'container "a": already exists' });
      },
      List: (call, cb) => {
        record('List', call);
        cb(null, {
          containers: [
            {
              id: 'a',
              labels: { 'shoal.dev/workload-uid': 'u1' },
              runtime: { name: 'io.containerd.runc.v2' },
              spec: { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from('{"ociVersion":"1.0.2-dev"}') },
              snapshotter: 'overlayfs',
              snapshot_key: 'a',
              created_at: ts(1_700_000_000_123),
              updated_at: { seconds: '-62135596800', nanos: 0 },
            },
          ],
        });
      },
    };
    server.addService(services.containers.service, containers);
    const tasks: Record<string, Unary> = {
      Get: (call, cb) => {
        record('TaskGet', call);
        cb(null, { process: { id: 'a', pid: 42, status: 'RUNNING', exited_at: { seconds: '-62135596800', nanos: 0 } } });
      },
      Wait: (call, cb) => {
        record('Wait', call);
        setTimeout(() => cb(null, { exit_status: 143, exited_at: ts(1_700_000_001_000) }), 400);
      },
      Kill: (call, cb) => {
        record('Kill', call);
        // never answers: the client's deadline must fire
        void cb;
      },
    };
    server.addService(services.tasks.service, tasks);
    const leases: Record<string, Unary> = {
      Create: (call, cb) => {
        record('LeaseCreate', call);
        cb(null, { lease: { id: call.request['id'], labels: call.request['labels'], created_at: ts(Date.now()) } });
      },
    };
    server.addService(services.leases.service, leases);
    const snapshots: Record<string, Unary> = {
      Prepare: (call, cb) => {
        record('Prepare', call);
        cb(null, { mounts: [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/l', 'upperdir=/u', 'workdir=/w'] }] });
      },
    };
    server.addService(services.snapshots.service, snapshots);
    const content: Record<string, ServerStream> = {
      Read: (call) => {
        record('Read', { metadata: call.metadata, request: call.request });
        for (let off = 0; off < blob.length; off += 1 << 20) call.write({ offset: String(off), data: blob.subarray(off, off + (1 << 20)) });
        call.end();
      },
    };
    server.addService(services.content.service, content);
    const events: Record<string, ServerStream> = {
      Subscribe: (call) => {
        record('Subscribe', { metadata: call.metadata, request: call.request });
        call.on('cancelled', () => {
          subscribeCancelled = true;
        });
        const envelope = (topic: string, typeUrl: string, value: Buffer) => ({ timestamp: ts(Date.now()), namespace: 'k8s.io', topic, event: { type_url: typeUrl, value } });
        call.write(envelope('/tasks/start', 'containerd.events.TaskStart', encodeMessage('containerd.events.TaskStart', { container_id: 'a', pid: 42 })));
        call.write(
          envelope('/tasks/exit', 'types.containerd.io/containerd.events.TaskExit', encodeMessage('containerd.events.TaskExit', { container_id: 'a', id: 'a', pid: 42, exit_status: 3, exited_at: ts(1_700_000_002_500) })),
        );
        call.write(envelope('/images/create', 'containerd.services.images.v1.ImageCreate', encodeMessage('containerd.services.images.v1.ImageCreate', { name: 'reg/app:1', labels: { a: 'b' } })));
        call.write(envelope('/x/y', 'example.com/Other', Buffer.from([1, 2, 3])));
        // then stays open until the client cancels
      },
    };
    server.addService(services.events.service, events);
    await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
    client = await ContainerdClient.connect({ address: socket, namespace: 'shoal', logger, timeoutMs: 200 });
  });

  after(async () => {
    client?.close();
    server?.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends containerd-namespace on every call, and containerd-lease from withLease()', async () => {
    assert.deepEqual(await client.version(), { version: 'v1.6.20-fake', revision: 'abc' });
    const lease = await client.leases.create({ id: 'l1', expiresInMs: 60_000 });
    assert.equal(lease.id, 'l1');
    assert.ok(Date.parse(lease.labels['containerd.io/gc.expire'] ?? '') > Date.now());
    await client.withLease('l1').snapshots.prepare('overlayfs', 'k', 'sha256:p');
    await client.withNamespace('other').containers.list();
    const byMethod = (m: string) => seen.filter((s) => s.method === m).at(-1);
    assert.equal(byMethod('Version')?.namespace, 'shoal');
    assert.equal(byMethod('Version')?.lease, undefined);
    assert.equal(byMethod('Prepare')?.namespace, 'shoal');
    assert.equal(byMethod('Prepare')?.lease, 'l1');
    assert.deepEqual(byMethod('Prepare')?.request, { snapshotter: 'overlayfs', key: 'k', parent: 'sha256:p', labels: {} });
    assert.equal(byMethod('List')?.namespace, 'other');
    assert.ok(seen.every((s) => s.namespace !== undefined), 'no call without a namespace');
  });

  it('decodes responses into typed records (timestamps, Go zero time, Any)', async () => {
    const [c] = await client.containers.list([labelEquals('shoal.dev/workload-uid', 'u1')]);
    assert.deepEqual(seen.at(-1)?.request, { filters: ['labels."shoal.dev/workload-uid"=="u1"'] });
    assert.equal(c?.id, 'a');
    assert.equal(c?.createdAt?.getTime(), 1_700_000_000_123);
    assert.equal(c?.updatedAt, undefined, 'Go zero time is unset');
    assert.equal(c?.spec?.value.toString(), '{"ociVersion":"1.0.2-dev"}');
    const task = await client.tasks.get('a');
    assert.deepEqual(task, { containerId: 'a', execId: '', pid: 42, status: 'running', stdin: '', stdout: '', stderr: '', terminal: false, exitStatus: 0 });
  });

  it('maps gRPC status codes to typed errors', async () => {
    await assert.rejects(client.containers.get('nope'), (err: unknown) => {
      assert.ok(err instanceof ContainerdError);
      assert.equal(err.method, 'containers.Get');
      assert.equal(err.details, 'container "nope" in namespace "x": not found');
      return isNotFound(err) && !isAlreadyExists(err);
    });
    await assert.rejects(client.containers.create({ id: 'a', spec: {} }), (err: unknown) => isAlreadyExists(err));
  });

  it('puts a deadline on unary calls but not on wait()', async () => {
    const began = performance.now();
    await assert.rejects(client.tasks.kill('a', 'SIGTERM'), (err: unknown) => isDeadlineExceeded(err));
    assert.ok(performance.now() - began < 2000);
    assert.equal(seen.at(-1)?.request['signal'], 15);
    const exit = await client.tasks.wait('a'); // answers after 400 ms > the 200 ms default deadline
    assert.deepEqual(exit, { exitStatus: 143, exitedAt: new Date(1_700_000_001_000), signal: 'SIGTERM' });
    await assert.rejects(client.tasks.wait('a', { timeoutMs: 50 }), (err: unknown) => isDeadlineExceeded(err));
    const controller = new AbortController();
    const waiting = client.tasks.wait('a', { signal: controller.signal });
    controller.abort();
    await assert.rejects(waiting, (err: unknown) => err instanceof ContainerdError && err.code === Status.CANCELLED);
  });

  it('streams content reads in chunks and checks digests in readAll()', async () => {
    const chunks: number[] = [];
    for await (const chunk of client.content.read(blobDigest)) chunks.push(chunk.length);
    assert.deepEqual(chunks, [1 << 20, 1 << 20, 1 << 20, 1 << 20, 17]);
    assert.deepEqual(await client.content.readAll(blobDigest, { maxBytes: 8 << 20 }), blob);
    await assert.rejects(client.content.readAll(blobDigest), /larger than 4194304/);
    await assert.rejects(client.content.readAll(`sha256:${'0'.repeat(64)}`, { maxBytes: 8 << 20 }), /digest mismatch/);
  });

  it('subscribes to events, decodes Any payloads by type name, and cancels cleanly', async () => {
    const stream = client.events.subscribe([topicMatches('/tasks/'), hasLabel('x')]);
    const got: EventEnvelope[] = [];
    for await (const envelope of stream) {
      got.push(envelope);
      if (got.length === 4) stream.cancel();
    }
    assert.deepEqual(seen.at(-1)?.request, { filters: ['topic~="/tasks/"', 'labels."x"'] });
    assert.deepEqual(
      got.map((e) => e.event),
      [
        { type: 'TaskStart', containerId: 'a', pid: 42 },
        { type: 'TaskExit', containerId: 'a', id: 'a', pid: 42, exitStatus: 3, exitedAt: new Date(1_700_000_002_500) },
        { type: 'ImageCreate', name: 'reg/app:1', labels: { a: 'b' } },
        { type: 'unknown', typeUrl: 'example.com/Other', value: Buffer.from([1, 2, 3]) },
      ],
    );
    assert.equal(got[1]?.topic, '/tasks/exit');
    assert.equal(got[0]?.namespace, 'k8s.io');
    for (let i = 0; i < 50 && !subscribeCancelled; i++) await sleep(10);
    assert.ok(subscribeCancelled, 'the server saw the cancellation');

    const early = client.events.subscribe();
    for await (const envelope of early) {
      assert.equal(envelope.event.type, 'TaskStart');
      break; // breaking out of the loop cancels the call too
    }
  });

  it('rejects connect() with UNAVAILABLE when nothing listens', async () => {
    await assert.rejects(
      ContainerdClient.connect({ address: join(dir, 'missing.sock'), namespace: 'x', logger, timeoutMs: 300 }),
      (err: unknown) => isUnavailable(err),
    );
  });
});

describe('containerd helpers', () => {
  it('decodes event type URLs with and without a prefix', () => {
    assert.equal(typeNameFromUrl('containerd.events.TaskExit'), 'containerd.events.TaskExit');
    assert.equal(typeNameFromUrl('types.containerd.io/containerd.events.TaskExit'), 'containerd.events.TaskExit');
    const value = encodeMessage('containerd.events.TaskOOM', { container_id: 'c' });
    assert.deepEqual(decodeEvent({ typeUrl: 'containerd.events.TaskOOM', value }), { type: 'TaskOOM', containerId: 'c' });
    assert.equal(decodeEvent({ typeUrl: 'containerd.events.NotAThing', value }).type, 'unknown');
    for (const name of Object.keys(eventDecoders)) assert.ok(hasMessage(name), `${name} is in the vendored protos`);
  });

  it('builds quoted filters', () => {
    assert.equal(labelEquals('a.b/c', 'x"y'), 'labels."a.b/c"=="x\\"y"');
    assert.equal(topicMatches('/tasks/'), 'topic~="/tasks/"');
    assert.equal(topicMatches('a.b'), 'topic~="a\\\\.b"');
  });

  it('normalizes stdio URIs and signals', () => {
    assert.equal(stdioFile('/var/log/a b.log'), 'file:///var/log/a%20b.log');
    assert.deepEqual(normalizeStdio('file:///l', ''), { stdout: 'file:///l', stderr: 'file:///l' });
    assert.deepEqual(normalizeStdio('file:///l', 'file:///l'), { stdout: 'file:///l', stderr: 'file:///l' });
    assert.throws(() => normalizeStdio('file:///a', 'file:///b'), /same URI/);
    assert.throws(() => normalizeStdio('', 'file:///b'), /needs the same/);
    assert.deepEqual(normalizeStdio('/fifo/out', '/fifo/err'), { stdout: '/fifo/out', stderr: '/fifo/err' });
    assert.equal(signalNumber('SIGKILL'), 9);
    assert.equal(signalNumber(15), 15);
    assert.equal(signalFromExitStatus(137), 'SIGKILL');
    assert.equal(signalFromExitStatus(143), 'SIGTERM');
    assert.equal(signalFromExitStatus(3), undefined);
    assert.equal(signalFromExitStatus(128), undefined);
  });
});
