// The P2P mirror's serving half against real containerd 1.6 (hack/env.ts): node 0 pulls an image through CRI
// and its mirror serves it over the OCI distribution API; then node 1, whose hosts.toml (written by our
// writer) lists node 0's mirror before the registry, pulls the same image with the registry stopped.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry as MetricsRegistry } from 'prom-client';
import { ContainerdSource } from '../../agents/mirror/containerd-source.ts';
import { HostsTomlWriter } from '../../agents/mirror/hosts-toml.ts';
import { peerMarkerHeader, peerMarkerValue } from '../../agents/mirror/protocol.ts';
import { MirrorServer } from '../../agents/mirror/server.ts';
import { ContainerdClient } from '../../agents/runtime/containerd/client.ts';
import { resolveImage } from '../../agents/runtime/containerd/image.ts';
import { startNodeEnv, type NodeEnv } from '../../hack/env.ts';
import { mediaTypes, standardImages, type SeededImage } from '../../hack/images.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { connectNode } from './support/containerd.ts';

const logger = createLogger({ component: 'mirror-server-test' });
const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * One request written byte for byte on a fresh connection: nothing normalizes the target (`..`, `%2F`). The
 * socket is not half-closed (Node's server drops a request whose client sent FIN before the answer was ready).
 */
async function raw(port: number, requestLine: string, headers: string[] = []): Promise<{ status: number; head: string; body: Buffer }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer to ${requestLine.slice(0, 60)}`)));
  socket.write([requestLine, 'Host: mirror', 'Connection: close', ...headers, '', ''].join('\r\n'));
  const response = Buffer.concat((await socket.toArray()) as Buffer[]);
  const split = response.indexOf('\r\n\r\n');
  const head = response.subarray(0, split).toString('latin1');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body: response.subarray(split + 4) };
}

/** Sum of `shoal_mirror_requests_total` samples whose labels include every `label="value"` given. */
async function requestCount(metrics: MetricsRegistry, labels: string[]): Promise<number> {
  const text = await metrics.metrics();
  return text
    .split('\n')
    .filter((line) => line.startsWith('shoal_mirror_requests_total{') && labels.every((l) => line.includes(l)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('mirror server (real containerd + CRI)', function () {
  this.timeout(180_000);

  let dir: string;
  let env: NodeEnv;
  let node0: ContainerdClient;
  let node1: ContainerdClient;
  let metrics: MetricsRegistry;
  let server: MirrorServer;
  let port: number;
  let base: string;
  let busybox: SeededImage;
  let registryManifest: Buffer;
  const requestLog: string[] = [];

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'shoal-mirror-'));
    env = await startNodeEnv({ dir, nodes: 2, logger });
    node0 = await connectNode(env.nodes[0]!, logger);
    node1 = await connectNode(env.nodes[1]!, logger);
    const seeded = env.images[standardImages.busybox];
    assert.ok(seeded);
    busybox = seeded;
    await node0.cri.pullImage(busybox.ref);
    await node0.cri.pullImage(`${env.registry.host}/${standardImages.busyboxLatest}`);
    const res = await fetch(`${env.registry.url}/v2/${busybox.repo}/manifests/${busybox.tag}`, { headers: { accept: mediaTypes.manifest } });
    registryManifest = Buffer.from(await res.arrayBuffer());
    assert.equal(res.headers.get('docker-content-digest'), busybox.digest);

    metrics = new MetricsRegistry();
    // Debug lines carry every request the mirror answers; kept to see what containerd asked for.
    const serverLogger = createLogger({ component: 'mirror' }, { level: 'debug', write: (line) => requestLog.push(line) });
    server = new MirrorServer({ sources: [new ContainerdSource({ client: node0, logger: serverLogger })], logger: serverLogger, metrics, resolveTags: true });
    port = await server.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
  });

  after(async function () {
    await server?.close(0);
    node0?.close();
    node1?.close();
    const failed = this.test?.parent?.tests.some((t) => t.state === 'failed') ?? false;
    if (failed) for (const line of requestLog.slice(-40)) process.stderr.write(`${line}\n`);
    if (env) await env.stop({ purge: !failed && !process.env['SHOAL_KEEP_TMP'] });
    if (dir && !failed && !process.env['SHOAL_KEEP_TMP']) await rm(dir, { recursive: true, force: true });
    else if (dir) logger.info('kept test dir', { dir });
  });

  const manifestUrl = (ref: string): string => `${base}/v2/${busybox.repo}/manifests/${ref}?ns=${env.registry.host}`;
  const blobUrl = (digest: string): string => `${base}/v2/${busybox.repo}/blobs/${digest}?ns=${env.registry.host}`;

  it('answers /v2/', async () => {
    const res = await fetch(`${base}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    await res.arrayBuffer();
  });

  it('serves the manifest by tag and by digest with the bytes and digest the registry serves', async () => {
    for (const ref of [busybox.tag, busybox.digest]) {
      const res = await fetch(manifestUrl(ref));
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200, ref);
      assert.ok(body.equals(registryManifest), 'same bytes as the registry');
      assert.equal(sha256(body), busybox.digest);
      assert.equal(res.headers.get('docker-content-digest'), busybox.digest);
      assert.equal(res.headers.get('content-type'), mediaTypes.manifest);
      assert.equal(res.headers.get('content-length'), String(registryManifest.length));
      const head = await fetch(manifestUrl(ref), { method: 'HEAD' });
      assert.deepEqual([head.status, head.headers.get('content-length'), head.headers.get('docker-content-digest')], [200, String(registryManifest.length), busybox.digest]);
    }
  });

  it('does not serve the latest tag (resolveLatest off) although node 0 holds it', async () => {
    assert.ok(await node0.images.get(`${env.registry.host}/${standardImages.busyboxLatest}`));
    const res = await fetch(manifestUrl('latest'));
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code, 'MANIFEST_UNKNOWN');
  });

  it('serves blobs from the content store files (contentDir) byte for byte, whole and by range, and through gRPC when a file is missing', async () => {
    const contentDir = join(env.nodes[0]!.containerd.root, 'io.containerd.content.v1.content');
    const direct = new MirrorServer({ sources: [new ContainerdSource({ client: node0, logger, contentDir })], logger, metrics: new MetricsRegistry() });
    const directPort = await direct.listen(0, '127.0.0.1');
    try {
      const layer = busybox.image.layers[0]!;
      const url = `http://127.0.0.1:${directPort}/v2/${busybox.repo}/blobs/${layer.digest}?ns=${encodeURIComponent(env.registry.host)}`;
      assert.ok(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(layer.data));
      const ranged = await fetch(url, { headers: { range: 'bytes=100-4195' } });
      assert.equal(ranged.status, 206);
      assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(layer.data.subarray(100, 4196)));
      // A store without the file (another root) still answers, through containerd's API.
      const elsewhere = new ContainerdSource({ client: node0, logger, contentDir: join(dir, 'no-such-store') });
      const chunks: Buffer[] = [];
      for await (const chunk of elsewhere.read(layer.digest, { offset: 0, length: layer.data.length }, AbortSignal.timeout(10_000))) chunks.push(chunk);
      assert.ok(Buffer.concat(chunks).equals(layer.data));
    } finally {
      await direct.close(0);
    }
  });

  it('serves the config and layers whole and by range, and answers 416 past the end', async () => {
    const blobs = [{ digest: busybox.image.configDigest, data: busybox.image.configBytes }, ...busybox.image.layers];
    for (const { digest, data } of blobs) {
      const res = await fetch(blobUrl(digest));
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200);
      assert.ok(body.equals(data), `blob ${digest}`);
      assert.equal(res.headers.get('content-length'), String(data.length));
    }
    const layer = busybox.image.layers[0];
    assert.ok(layer);
    const size = layer.data.length;
    for (const [range, start, end] of [
      ['bytes=0-0', 0, 0],
      ['bytes=100-4195', 100, 4195],
      [`bytes=${size - 10}-`, size - 10, size - 1],
      ['bytes=-1', size - 1, size - 1],
      [`bytes=1-${size * 2}`, 1, size - 1],
    ] as const) {
      const res = await fetch(blobUrl(layer.digest), { headers: { range } });
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${size}`, range);
      assert.ok(body.equals(layer.data.subarray(start, end + 1)), `content.read offset/size for ${range}`);
    }
    const past = await fetch(blobUrl(layer.digest), { headers: { range: `bytes=${size}-` } });
    await past.arrayBuffer();
    assert.deepEqual([past.status, past.headers.get('content-range')], [416, `bytes */${size}`]);
    const multi = await fetch(blobUrl(layer.digest), { headers: { range: 'bytes=0-1,3-4' } });
    assert.ok(Buffer.from(await multi.arrayBuffer()).equals(layer.data));
    const head = await fetch(blobUrl(layer.digest), { method: 'HEAD' });
    assert.deepEqual([head.status, head.headers.get('content-length'), head.headers.get('accept-ranges')], [200, String(size), 'bytes']);
  });

  it('serves a peer (marker header) from the local store', async () => {
    const res = await fetch(blobUrl(busybox.image.configDigest), { headers: { [peerMarkerHeader]: peerMarkerValue } });
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(busybox.image.configBytes));
    assert.equal(await requestCount(metrics, ['cache="hit"', 'source="external"']), 1);
  });

  it('answers 404 for content it does not hold, quickly', async () => {
    const began = performance.now();
    for (const url of [blobUrl(sha256(Buffer.from('nobody has this'))), manifestUrl(sha256(Buffer.from('nor this'))), manifestUrl('9.99'), `${base}/v2/other/repo/manifests/1.36?ns=${env.registry.host}`]) {
      const res = await fetch(url);
      await res.arrayBuffer();
      assert.equal(res.status, 404, url);
    }
    // A layer is not a manifest: containerd's fallback to /blobs/ for digests must see 404 here.
    const layerAsManifest = await fetch(manifestUrl(busybox.image.layers[0]!.digest));
    await layerAsManifest.arrayBuffer();
    assert.equal(layerAsManifest.status, 404);
    assert.ok(performance.now() - began < 2000, 'misses answered within the lookup deadlines');
  });

  it('refuses writes with 405 and malformed input with 400, and stays healthy after a burst', async () => {
    for (const method of ['PUT', 'POST', 'DELETE', 'PATCH']) {
      const res = await raw(port, `${method} /v2/${busybox.repo}/blobs/uploads/ HTTP/1.1`, ['Content-Length: 5']);
      assert.equal(res.status, 405, method);
      assert.match(res.head, /\r\nallow: GET, HEAD/i);
    }
    const digest = busybox.image.configDigest;
    const bad = [
      `/v2/../etc/passwd/blobs/${digest}`,
      `/v2/shoal/../../etc/passwd/blobs/${digest}`,
      `/v2/shoal%2Fbusybox/blobs/${digest}`,
      `/v2/shoal/busybox%2f..%2f..%2fetc/manifests/1.36`,
      `/v2/%2e%2e/blobs/${digest}`,
      `/v2/shoal/busybox/blobs/sha256:${'F'.repeat(64)}`,
      `/v2/shoal/busybox/blobs/sha256:1234`,
      `/v2/shoal/busybox/blobs/md5:d41d8cd98f00b204e9800998ecf8427e`,
      `/v2/shoal/busybox/manifests/bad%20tag`,
      `http://127.0.0.1:${port}/v2/shoal/busybox/blobs/${digest}`,
    ];
    for (const target of bad) {
      const res = await raw(port, `GET ${target} HTTP/1.1`);
      assert.equal(res.status, 400, target);
      assert.match(res.body.toString(), /^\{"errors":\[\{"code":"(NAME_INVALID|DIGEST_INVALID|MANIFEST_INVALID)"/, target);
    }
    const garbage = ['GARBAGE', 'GET /v2/ HTTP/9.9', `GET /v2/${'a/'.repeat(5000)} HTTP/1.1`, 'GET /v2/\u0000 HTTP/1.1', `GET /v2/x/blobs/${digest} HTTP/1.1\r\nRange: bytes=zz`];
    const lines = Array.from({ length: 300 }, (_, i) => (i % 2 ? `GET ${bad[i % bad.length]} HTTP/1.1` : garbage[i % garbage.length]!));
    const burst = await Promise.all(lines.map((line) => raw(port, line).catch((err: Error) => ({ status: -1, head: err.message, body: Buffer.alloc(0) }))));
    const odd = burst.flatMap((r, i) => (r.status >= 400 && r.status < 500 ? [] : [`${lines[i]?.slice(0, 40)} → ${r.status} ${r.head.slice(0, 40)}`]));
    assert.deepEqual(odd, [], 'only 4xx answers');
    const health = await fetch(`${base}/v2/`);
    await health.arrayBuffer();
    assert.equal(health.status, 200);
    const blob = await fetch(blobUrl(digest));
    assert.ok(Buffer.from(await blob.arrayBuffer()).equals(busybox.image.configBytes));
  });

  describe('a second node pulling through the mirror', () => {
    let writer: HostsTomlWriter;
    let hostsPath: string;
    let original: Buffer;

    before(async () => {
      const certsDir = env.nodes[1]?.certsDir;
      assert.ok(certsDir);
      writer = new HostsTomlWriter({ certsDir, logger });
      hostsPath = writer.path(env.registry.host);
      original = await readFile(hostsPath);
      assert.equal(await writer.install(env.registry.host, { mirrors: [base] }), 'updated');
      await env.registry.stop();
    });

    it('writes node 1 a hosts.toml with the mirror first, keeping the original entries', async () => {
      const text = await readFile(hostsPath, 'utf8');
      assert.ok(text.indexOf(`[host."${base}"]`) < text.indexOf(`[host."http://${env.registry.host}"]`), text);
      assert.ok(text.startsWith(original.toString().slice(0, original.toString().indexOf('[host.'))), 'server line and comments untouched');
    });

    it('pulls the image on node 1 with the registry down, entirely from node 0', async () => {
      const hitsBefore = await requestCount(metrics, ['cache="hit"', 'source="internal"']);
      const logFrom = requestLog.length;
      const began = performance.now();
      const { imageRef } = await node1.cri.pullImage(busybox.ref);
      assert.equal(imageRef, busybox.image.configDigest);
      const image = await resolveImage(node1, busybox.ref);
      assert.equal(image.manifest.digest, busybox.digest);
      logger.info('pulled through the mirror', { ms: Math.round(performance.now() - began) });
      // What containerd asked: HEAD manifest by tag, GET manifest by digest, then config and layers — each with
      // ?ns=<registry> (percent-encoded by containerd) and each answered by the mirror.
      const asked = requestLog
        .slice(logFrom)
        .map((line) => JSON.parse(line) as { msg: string; method: string; url: string; status: number })
        .filter((entry) => entry.msg === 'mirror request');
      const expected = [`HEAD manifests/${busybox.tag}`, `GET manifests/${busybox.digest}`, `GET blobs/${busybox.image.configDigest}`, ...busybox.image.layers.map((l) => `GET blobs/${l.digest}`)];
      assert.deepEqual(asked.map((e) => `${e.method} ${/\/(manifests|blobs)\/[^?]+/.exec(e.url)?.[0].slice(1)}`).sort(), expected.sort());
      for (const entry of asked) {
        assert.equal(entry.status, 200, entry.url);
        assert.equal(new URL(entry.url, base).searchParams.get('ns'), env.registry.host, entry.url);
      }
      const hits = (await requestCount(metrics, ['cache="hit"', 'source="internal"'])) - hitsBefore;
      assert.equal(hits, expected.length, 'every request counted as a hit');
    });

    it('fails fast with a clear error for an image nobody holds', async () => {
      const missing = `${env.registry.host}/${standardImages.sleeper}`;
      const began = performance.now();
      await assert.rejects(node1.cri.pullImage(missing), (err: Error) => {
        logger.info('pull of an image nobody holds', { ms: Math.round(performance.now() - began), error: err.message });
        assert.match(err.message, /shoal\/sleeper:1/);
        assert.match(err.message, /connection refused|not found/i);
        return true;
      });
      assert.ok(performance.now() - began < 10_000, 'within 10 s');
      assert.ok((await requestCount(metrics, ['cache="miss"'])) >= 1, 'the mirror was asked and missed');
    });

    it('restores node 1 hosts.toml byte for byte', async () => {
      assert.equal(await writer.restore(env.registry.host), 'restored');
      assert.ok((await readFile(hostsPath)).equals(original));
      assert.deepEqual(await writer.managed(), []);
    });
  });
});
