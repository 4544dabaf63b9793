// The mirror's peer data path against real containerd 1.6 (hack/env.ts, 2 nodes): node 0 runs the
// authenticated peer listener over its content store; node 1 runs the internal listener with its own store
// and a PeerSource whose (static) resolver lists peers written here that lie or break off, then node 0. With
// the registry stopped, node 1's CRI pulls must end with the right content; the liars are penalised.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { Registry as MetricsRegistry } from 'prom-client';
import { ContainerdSource } from '../../agents/mirror/containerd-source.ts';
import { HostsTomlWriter } from '../../agents/mirror/hosts-toml.ts';
import { PeerAuthenticator, PeerSigner } from '../../agents/mirror/peer-auth.ts';
import { PeerSource } from '../../agents/mirror/peer-source.ts';
import { peerMarkerHeader, peerMarkerValue, peerUrl } from '../../agents/mirror/protocol.ts';
import type { Resolver } from '../../agents/mirror/resolver.ts';
import { MirrorServer } from '../../agents/mirror/server.ts';
import { ContainerdClient } from '../../agents/runtime/containerd/client.ts';
import { resolveImage } from '../../agents/runtime/containerd/image.ts';
import { startNodeEnv, type NodeEnv } from '../../hack/env.ts';
import { buildRandomImage, mediaTypes, pushImage, standardImages, type OciImage, type SeededImage } from '../../hack/images.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { registryMetric } from '../metrics.ts';
import { connectNode } from './support/containerd.ts';

const logger = createLogger({ component: 'mirror-peers-test' });
const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

interface Logged {
  method: string;
  path: string;
  range: string | undefined;
}

/** What a test peer does with the bytes of a GET for `digest`: send them, corrupt them, or break off. */
type Behaviour = (digest: string, body: Buffer, res: ServerResponse) => void;

/** A peer written for the test: serves `images` from memory like a peer listener (no auth), per `behaviour`. */
class TestPeer {
  readonly log: Logged[] = [];
  readonly #server: Server;
  readonly #blobs = new Map<string, { data: Buffer; manifest: boolean }>();
  readonly #tags = new Map<string, string>();
  url = new URL('http://127.0.0.1');

  constructor(images: { repo: string; tag: string; image: OciImage }[], behaviour: Behaviour) {
    for (const { repo, tag, image } of images) {
      this.#tags.set(`${repo}:${tag}`, image.manifestDigest);
      this.#blobs.set(image.manifestDigest, { data: image.manifestBytes, manifest: true });
      this.#blobs.set(image.configDigest, { data: image.configBytes, manifest: false });
      for (const layer of image.layers) this.#blobs.set(layer.digest, { data: layer.data, manifest: false });
    }
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '').replace(/\?.*/, '');
      this.log.push({ method: req.method ?? '', path, range: req.headers.range });
      const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
      const digest = match && (match[3]!.startsWith('sha256:') ? match[3]! : this.#tags.get(`${match[1]}:${match[3]}`));
      const blob = digest ? this.#blobs.get(digest) : undefined;
      if (!match || !digest || !blob) {
        res.writeHead(404, { 'content-length': '0' }).end();
        return;
      }
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      const end = range?.[2] ? Number(range[2]) : blob.data.length - 1;
      const body = blob.data.subarray(start, end + 1);
      res.writeHead(range ? 206 : 200, {
        'content-length': String(body.length),
        'content-type': blob.manifest ? mediaTypes.manifest : 'application/octet-stream',
        'docker-content-digest': digest,
        ...(range ? { 'content-range': `bytes ${start}-${end}/${blob.data.length}` } : {}),
      });
      if (req.method === 'HEAD') res.end();
      else behaviour(digest, body, res);
    });
  }

  async start(peerId: string): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = peerUrl(`http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`, peerId);
    return this;
  }

  gets(digest: string): Logged[] {
    return this.log.filter((l) => l.method === 'GET' && l.path.endsWith(digest));
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** One GET on `url` with exactly the given headers (fetch would add its own). */
function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: Buffer; code: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        let code = '';
        if ((res.statusCode ?? 0) >= 400) code = (JSON.parse(body.toString()) as { errors: { code: string }[] }).errors[0]?.code ?? '';
        resolve({ status: res.statusCode ?? 0, body, code });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('mirror peers (real containerd + CRI)', function () {
  this.timeout(180_000);

  let dir: string;
  let env: NodeEnv;
  let node0: ContainerdClient;
  let node1: ContainerdClient;
  let busybox: SeededImage;
  let big1: OciImage;
  let big2: OciImage;
  let key0: PeerSigner;
  let key1: PeerSigner;
  let outsider: PeerSigner;
  let metrics0: MetricsRegistry;
  let metrics1: MetricsRegistry;
  let peerListener: MirrorServer;
  let peerServer: Server;
  let peerBase: string;
  let node0Url: URL;
  const node0Log: Logged[] = [];
  let internal: MirrorServer;
  let internalPort: number;
  let peerSource: PeerSource;
  let peers: URL[] = [];
  const testPeers: TestPeer[] = [];
  let writer: HostsTomlWriter;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'shoal-mirror-peers-'));
    env = await startNodeEnv({ dir, nodes: 2, logger });
    node0 = await connectNode(env.nodes[0]!, logger);
    node1 = await connectNode(env.nodes[1]!, logger);
    const seeded = env.images[standardImages.busybox];
    assert.ok(seeded);
    busybox = seeded;
    // Two images with one 12 MiB layer each: larger than the PeerSource's small-blob limit, so they stream.
    big1 = await buildRandomImage({ seed: 'mirror-peers-1', layers: 1, totalBytes: 12 * 1024 * 1024 });
    big2 = await buildRandomImage({ seed: 'mirror-peers-2', layers: 1, totalBytes: 12 * 1024 * 1024 });
    await pushImage(env.registry.url, 'shoal/big', '1', big1);
    await pushImage(env.registry.url, 'shoal/big', '2', big2);
    for (const ref of [busybox.ref, `${env.registry.host}/shoal/big:1`, `${env.registry.host}/shoal/big:2`]) await node0.cri.pullImage(ref);

    key0 = new PeerSigner(await generateKeyPair('Ed25519'));
    key1 = new PeerSigner(await generateKeyPair('Ed25519'));
    outsider = new PeerSigner(await generateKeyPair('Ed25519'));
    const members = new Set([key0.peerId, key1.peerId]);

    // Node 0: the peer listener, behind a server that logs what it is asked (Range headers included).
    metrics0 = new MetricsRegistry();
    peerListener = new MirrorServer({
      sources: [new ContainerdSource({ client: node0, logger })],
      logger: logger.child({ listener: 'peer', node: 'node-0' }),
      metrics: metrics0,
      peerAuth: new PeerAuthenticator({ selfPeerId: key0.peerId, isMember: (id) => members.has(id) }),
    });
    peerServer = createServer((req, res) => {
      node0Log.push({ method: req.method ?? '', path: (req.url ?? '').replace(/\?.*/, ''), range: req.headers.range });
      peerListener.handle(req, res);
    });
    await new Promise<void>((resolve) => peerServer.listen(0, '127.0.0.1', resolve));
    peerBase = `http://127.0.0.1:${(peerServer.address() as AddressInfo).port}`;
    node0Url = peerUrl(peerBase, key0.peerId);

    // Node 1: the internal listener with its own store first, then the peers.
    metrics1 = new MetricsRegistry();
    const resolver: Resolver = {
      async *resolve() {
        yield* peers;
      },
    };
    peerSource = new PeerSource({ resolver, signer: key1, logger: logger.child({ node: 'node-1' }), metrics: metrics1 });
    internal = new MirrorServer({ sources: [new ContainerdSource({ client: node1, logger }), peerSource], logger: logger.child({ listener: 'internal', node: 'node-1' }), metrics: metrics1 });
    internalPort = await internal.listen(0, '127.0.0.1');
    const certsDir = env.nodes[1]?.certsDir;
    assert.ok(certsDir);
    writer = new HostsTomlWriter({ certsDir, logger });
    assert.equal(await writer.install(env.registry.host, { mirrors: [`http://127.0.0.1:${internalPort}`] }), 'updated');
    await env.registry.stop();
  });

  after(async function () {
    await internal?.close(0);
    await peerSource?.close();
    await peerListener?.close(0);
    peerServer?.closeAllConnections();
    peerServer?.close();
    await Promise.all(testPeers.map((p) => p.stop()));
    node0?.close();
    node1?.close();
    const failed = this.test?.parent?.tests.some((t) => t.state === 'failed') ?? false;
    if (env) await env.stop({ purge: !failed && !process.env['SHOAL_KEEP_TMP'] });
    if (dir && !failed && !process.env['SHOAL_KEEP_TMP']) await rm(dir, { recursive: true, force: true });
    else if (dir) logger.info('kept test dir', { dir });
  });

  async function testPeer(images: { repo: string; tag: string; image: OciImage }[], behaviour: Behaviour): Promise<TestPeer> {
    const peer = await new TestPeer(images, behaviour).start(new PeerSigner(await generateKeyPair('Ed25519')).peerId);
    testPeers.push(peer);
    return peer;
  }

  describe('the peer listener', () => {
    const target = (): string => `/v2/${busybox.repo}/blobs/${busybox.image.configDigest}?ns=${encodeURIComponent(env.registry.host)}`;
    const marked = { [peerMarkerHeader]: peerMarkerValue };

    it('serves a member that signed its request for this node', async () => {
      const res = await get(`${peerBase}${target()}`, { ...marked, authorization: await key1.authorization('GET', target(), key0.peerId) });
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(busybox.image.configBytes));
    });

    it('refuses missing or bad signatures (401), outsiders (403), other targets and stale timestamps (401)', async () => {
      const signed = await key1.authorization('GET', target(), key0.peerId);
      const cases: [string, Record<string, string>, number, string][] = [
        ['no header', marked, 401, 'missing'],
        ['bad signature', { ...marked, authorization: signed.replace(/sig=[\w-]{8}/, 'sig=AAAAAAAA') }, 401, 'bad-signature'],
        ['signed for another path', { ...marked, authorization: await key1.authorization('GET', `/v2/${busybox.repo}/blobs/${busybox.image.layers[0]!.digest}`, key0.peerId) }, 401, 'bad-signature'],
        ['not a member', { ...marked, authorization: await outsider.authorization('GET', target(), key0.peerId) }, 403, 'not-member'],
        ['wrong target', { ...marked, authorization: await key1.authorization('GET', target(), key1.peerId) }, 401, 'wrong-target'],
        ['stale', { ...marked, authorization: await key1.authorization('GET', target(), key0.peerId, Date.now() - 60_000) }, 401, 'stale'],
      ];
      for (const [what, headers, status, reason] of cases) {
        const before = await registryMetric(metrics0, 'shoal_mirror_peer_auth_refused_total', { reason });
        const res = await get(`${peerBase}${target()}`, headers);
        assert.equal(res.status, status, what);
        assert.equal(res.code, status === 401 ? 'UNAUTHORIZED' : 'DENIED', what);
        assert.equal(await registryMetric(metrics0, 'shoal_mirror_peer_auth_refused_total', { reason }), before + 1, what);
      }
      assert.equal(await registryMetric(metrics0, 'shoal_mirror_peer_auth_refused_total'), cases.length);
      // Still healthy and serving members afterwards.
      const ok = await get(`${peerBase}${target()}`, { ...marked, authorization: await key1.authorization('GET', target(), key0.peerId) });
      assert.equal(ok.status, 200);
    });
  });

  it('binds the internal listener to loopback only', async () => {
    await assert.rejects(new MirrorServer({ sources: [], logger, metrics: new MetricsRegistry() }).listen(0, '0.0.0.0'), /only binds loopback/);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external) {
      await assert.rejects(fetch(`http://${external.address}:${internalPort}/v2/`), 'not reachable on a non-loopback address');
    }
    const res = await fetch(`http://127.0.0.1:${internalPort}/v2/`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });

  it('pulls busybox on node 1 past a peer that corrupts a layer: verified, penalised, served by node 0', async () => {
    const layer = busybox.image.layers[0]!;
    const corrupter = await testPeer([{ repo: busybox.repo, tag: busybox.tag, image: busybox.image }], (digest, body, res) => {
      res.end(digest === layer.digest ? Buffer.from(body).fill(0x42, 1000, 1100) : body);
    });
    peers = [corrupter.url, node0Url];
    const began = performance.now();
    const { imageRef } = await node1.cri.pullImage(busybox.ref);
    logger.info('pulled past a corrupting peer', { ms: Math.round(performance.now() - began) });
    assert.equal(imageRef, busybox.image.configDigest);
    const image = await resolveImage(node1, busybox.ref);
    assert.equal(image.manifest.digest, busybox.digest);
    const stored = await node1.content.readAll(layer.digest, { maxBytes: 8 * 1024 * 1024 });
    assert.equal(sha256(stored), layer.digest);
    assert.equal(corrupter.gets(layer.digest).length, 1, 'the corrupter was asked for the layer once');
    assert.equal(node0Log.filter((l) => l.method === 'GET' && l.path.endsWith(layer.digest)).length, 1, 'node 0 served it');
    assert.equal(await registryMetric(metrics1, 'shoal_mirror_fallbacks_total', { reason: 'digest-mismatch' }), 1);
    assert.equal(await registryMetric(metrics1, 'shoal_mirror_peer_penalties_total', { reason: 'digest-mismatch' }), 1);
    assert.equal(peerSource.health.coolingOff(corrupter.url.username), true);
    assert.ok((await registryMetric(metrics1, 'shoal_mirror_peer_bytes_total', { peer: key0.peerId })) >= layer.data.length);
  });

  it('resumes a large layer on node 0 with a Range request when the first peer breaks off half-way', async () => {
    const layer = big1.layers[0]!;
    const breaker = await testPeer([{ repo: 'shoal/big', tag: '1', image: big1 }], (digest, body, res) => {
      if (digest !== layer.digest) return void res.end(body);
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.destroy(), 20));
    });
    peers = [breaker.url, node0Url];
    const from = node0Log.length;
    const { imageRef } = await node1.cri.pullImage(`${env.registry.host}/shoal/big:1`);
    assert.equal(imageRef, big1.configDigest);
    assert.equal(sha256(await node1.content.readAll(layer.digest, { maxBytes: 16 * 1024 * 1024, timeoutMs: 30_000 })), layer.digest);
    const ranged = node0Log.slice(from).filter((l) => l.method === 'GET' && l.path.endsWith(layer.digest));
    assert.equal(ranged.length, 1, JSON.stringify(ranged));
    const start = Number(/^bytes=(\d+)-(\d+)$/.exec(ranged[0]?.range ?? '')?.[1]);
    assert.ok(start > 0 && start <= layer.data.length / 2, `resumed at ${ranged[0]?.range}`);
    assert.equal(ranged[0]?.range, `bytes=${start}-${layer.data.length - 1}`);
    assert.equal(breaker.gets(layer.digest).length, 1);
  });

  it('a peer lying about a large layer costs containerd one failed pull; the retry after GC gets node 0\'s bytes', async () => {
    const layer = big2.layers[0]!;
    const liar = await testPeer([{ repo: 'shoal/big', tag: '2', image: big2 }], (digest, body, res) => {
      res.end(digest === layer.digest ? Buffer.from(body).fill(0x42, 4096, 4196) : body);
    });
    peers = [liar.url, node0Url];
    const ref = `${env.registry.host}/shoal/big:2`;
    const mismatchesBefore = await registryMetric(metrics1, 'shoal_mirror_fallbacks_total', { reason: 'digest-mismatch' });
    const from = node0Log.length;
    let firstError = '';
    const began = performance.now();
    try {
      await node1.cri.pullImage(ref);
    } catch (err) {
      firstError = (err as Error).message;
    }
    logger.info('first pull past a large-layer liar', { ms: Math.round(performance.now() - began), error: firstError, node0: node0Log.slice(from).map((l) => `${l.method} ${l.path.slice(-12)} ${l.range ?? ''}`) });
    assert.equal(await registryMetric(metrics1, 'shoal_mirror_fallbacks_total', { reason: 'digest-mismatch' }), mismatchesBefore + 1);
    assert.equal(peerSource.health.coolingOff(liar.url.username), true);
    // containerd keeps the bytes it had (the liar's) and re-asks with Range for the rest; the digest cannot match.
    assert.match(firstError, /unexpected commit digest|unexpected EOF/, firstError);
    // The failed pull's lease goes, and containerd's GC drops the poisoned ingest; kubelet's retry then starts over.
    const gcBegan = performance.now();
    while ((await node1.content.listStatuses([`ref~="${layer.digest.slice(7)}"`])).length > 0) {
      assert.ok(performance.now() - gcBegan < 60_000, 'the poisoned ingest was collected within 60 s');
      await sleep(250);
    }
    logger.info('poisoned ingest collected', { ms: Math.round(performance.now() - gcBegan) });
    const { imageRef } = await node1.cri.pullImage(ref);
    assert.equal(imageRef, big2.configDigest);
    assert.equal(sha256(await node1.content.readAll(layer.digest, { maxBytes: 16 * 1024 * 1024, timeoutMs: 30_000 })), layer.digest);
    assert.equal(liar.gets(layer.digest).length, 1, 'the liar was not asked again');
  });

  it('answers 404 quickly for content no peer holds, so containerd can go upstream', async () => {
    peers = [node0Url];
    const notFoundBefore = await registryMetric(metrics1, 'shoal_mirror_fallbacks_total', { reason: 'not-found' });
    const began = performance.now();
    for (const path of [`/v2/shoal/none/blobs/${sha256(Buffer.from('nobody has this'))}`, `/v2/shoal/none/manifests/9.99?ns=${encodeURIComponent(env.registry.host)}`]) {
      const res = await fetch(`http://127.0.0.1:${internalPort}${path}`);
      await res.arrayBuffer();
      assert.equal(res.status, 404, path);
    }
    assert.ok(performance.now() - began < 1000, 'both misses within a second');
    assert.equal(await registryMetric(metrics1, 'shoal_mirror_fallbacks_total', { reason: 'not-found' }), notFoundBefore + 2, 'node 0 was asked and had neither');
  });

  after(async () => {
    if (writer) await writer.restore(env.registry.host);
  });
});
