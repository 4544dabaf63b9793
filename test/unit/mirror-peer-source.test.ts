// PeerSource against in-process peer listeners (MirrorServer with peerAuth over an in-memory store) and rogue
// peers written here: verification, small-blob buffering, resume with Range, penalties, deadlines and retries.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { Registry } from 'prom-client';
import { PeerAuthenticator, PeerSigner } from '../../agents/mirror/peer-auth.ts';
import { PeerSource } from '../../agents/mirror/peer-source.ts';
import { peerMarkerHeader, peerUrl } from '../../agents/mirror/protocol.ts';
import type { Resolver } from '../../agents/mirror/resolver.ts';
import { MirrorServer } from '../../agents/mirror/server.ts';
import type { BlobDescriptor, ByteRange, ContentSource, ManifestDescriptor } from '../../agents/mirror/source.ts';
import { IntegrityError } from '../../agents/mirror/verify.ts';
import { mediaTypes } from '../../agents/runtime/containerd/image.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { registryMetric } from '../metrics.ts';

const logger = createLogger({ component: 'mirror-peer-source-test' }, { level: 'error' });
const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const ns = 'registry.example:5000';

/** An in-memory local store for a peer listener. */
class MemorySource implements ContentSource {
  readonly name = 'memory';
  readonly local = true;
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, string>();
  readonly tags = new Map<string, string>();

  add(data: Buffer, mediaType?: string): string {
    const digest = sha256(data);
    this.blobs.set(digest, data);
    if (mediaType) this.manifests.set(digest, mediaType);
    return digest;
  }
  async resolveTag(registry: string, name: string, tag: string): Promise<ManifestDescriptor | undefined> {
    const digest = this.tags.get(`${registry}/${name}:${tag}`);
    return digest ? this.manifest(digest) : undefined;
  }
  async manifest(digest: string): Promise<ManifestDescriptor | undefined> {
    const mediaType = this.manifests.get(digest);
    const blob = this.blobs.get(digest);
    return mediaType && blob ? { digest, size: blob.length, mediaType } : undefined;
  }
  async readManifest(manifest: ManifestDescriptor): Promise<Buffer> {
    return this.blobs.get(manifest.digest) ?? Buffer.alloc(0);
  }
  async blob(digest: string): Promise<BlobDescriptor | undefined> {
    const blob = this.blobs.get(digest);
    return blob ? { digest, size: blob.length } : undefined;
  }
  async *read(digest: string, range: ByteRange): AsyncIterable<Uint8Array> {
    const blob = this.blobs.get(digest) ?? Buffer.alloc(0);
    for (let i = range.offset; i < range.offset + range.length; i += 16 * 1024) yield blob.subarray(i, Math.min(i + 16 * 1024, range.offset + range.length));
  }
}

interface Logged {
  method: string;
  url: string;
  range: string | undefined;
  signed: boolean;
  marked: boolean;
}

/** A peer written for the test: `serve` decides what to do with each request; every request is logged. */
class RoguePeer {
  readonly log: Logged[] = [];
  readonly #server: Server;
  url = new URL('http://127.0.0.1');

  constructor(serve: (req: IncomingMessage, res: ServerResponse) => void) {
    this.#server = createServer((req, res) => {
      this.log.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range, signed: /^ShoalPeer /.test(req.headers.authorization ?? ''), marked: req.headers[peerMarkerHeader] !== undefined });
      serve(req, res);
    });
  }

  async start(peerId: string): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = peerUrl(`http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`, peerId);
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Serves `data` for GET/HEAD on any blob path, honouring `Range: bytes=a-b`; `mutate` may change what is sent. */
function blobServer(data: Buffer, mutate: (body: Buffer, res: ServerResponse) => void = (body, res) => res.end(body)): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] ? Number(range[2]) : data.length - 1;
    const body = data.subarray(start, end + 1);
    res.writeHead(range ? 206 : 200, {
      'content-length': String(body.length),
      'content-type': 'application/octet-stream',
      ...(range ? { 'content-range': `bytes ${start}-${end}/${data.length}` } : {}),
    });
    if (req.method === 'HEAD') res.end();
    else mutate(body, res);
  };
}

const staticResolver = (peers: () => URL[]): Resolver => ({
  async *resolve() {
    yield* peers();
  },
});

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<{ data: Buffer; error: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const chunk of chunks) parts.push(Buffer.from(chunk));
    return { data: Buffer.concat(parts), error: undefined };
  } catch (error) {
    return { data: Buffer.concat(parts), error };
  }
}

describe('mirror peer source', function () {
  this.timeout(20_000);

  let self: PeerSigner;
  let honestKey: PeerSigner;
  let rogueIds: string[];
  let store: MemorySource;
  let honest: MirrorServer;
  let honestUrl: URL;
  let metrics: Registry;
  let peers: URL[];
  let source: PeerSource;
  let rogues: RoguePeer[];
  let small: Buffer;
  let large: Buffer;

  before(async () => {
    self = new PeerSigner(await generateKeyPair('Ed25519'));
    honestKey = new PeerSigner(await generateKeyPair('Ed25519'));
    rogueIds = await Promise.all([1, 2, 3].map(async () => new PeerSigner(await generateKeyPair('Ed25519')).peerId));
    small = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7) % 251));
    large = Buffer.from(Array.from({ length: 1_000_000 }, (_, i) => (i * 13) % 253));
  });

  beforeEach(async () => {
    store = new MemorySource();
    store.add(small);
    store.add(large);
    metrics = new Registry();
    honest = new MirrorServer({
      sources: [store],
      logger,
      metrics: new Registry(),
      peerAuth: new PeerAuthenticator({ selfPeerId: honestKey.peerId, isMember: (id) => id === self.peerId }),
    });
    honestUrl = peerUrl(`http://127.0.0.1:${await honest.listen(0, '127.0.0.1')}`, honestKey.peerId);
    peers = [];
    rogues = [];
    source = new PeerSource({ resolver: staticResolver(() => peers), signer: self, logger, metrics, smallBlobBytes: 100_000, requestTimeoutMs: 500, bodyTimeoutMs: 1000 });
  });

  afterEach(async () => {
    await source.close();
    await honest.close(0);
    await Promise.all(rogues.map((r) => r.stop()));
  });

  async function rogue(index: number, serve: (req: IncomingMessage, res: ServerResponse) => void): Promise<RoguePeer> {
    const peer = await new RoguePeer(serve).start(rogueIds[index]!);
    rogues.push(peer);
    return peer;
  }

  const signal = (): AbortSignal => new AbortController().signal;

  it('resolves a tag and reads a manifest from a peer listener, signed and marked, verifying the bytes', async () => {
    const doc = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: {}, layers: [] }));
    const digest = store.add(doc, mediaTypes.ociManifest);
    store.tags.set(`${ns}/shoal/busybox:1.36`, digest);
    const spy = await rogue(0, (req, res) => {
      res.writeHead(404, { 'content-length': '0' });
      res.end();
    });
    peers = [spy.url, honestUrl];
    assert.deepEqual(await source.resolveTag(ns, 'shoal/busybox', '1.36', signal()), { digest, size: doc.length, mediaType: mediaTypes.ociManifest });
    const descriptor = await source.manifest(digest, signal());
    assert.deepEqual(descriptor, { digest, size: doc.length, mediaType: mediaTypes.ociManifest });
    assert.ok((await source.readManifest(descriptor, signal())).equals(doc));
    assert.deepEqual(
      spy.log.map((l) => [l.method, l.url.replace(/sha256:\w+/, 'D'), l.signed, l.marked]),
      [
        ['HEAD', `/v2/shoal/busybox/manifests/1.36?ns=${encodeURIComponent(ns)}`, true, true],
        ['GET', '/v2/shoal/peer/manifests/D', true, true],
      ],
    );
    assert.equal(await registryMetric(metrics, 'shoal_mirror_fallbacks_total', { reason: 'not-found' }), 2);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_peer_penalties_total'), 0, 'a 404 is no fault');
  });

  it('fetches a small blob whole and verified: a lying peer costs nothing and is skipped afterwards', async () => {
    const digest = sha256(small);
    const liar = await rogue(0, blobServer(small, (body, res) => res.end(Buffer.from(body).fill(0, 1000, 1010))));
    peers = [liar.url, honestUrl];
    assert.deepEqual(await source.blob(digest, signal()), { digest, size: small.length });
    const { data, error } = await collect(source.read(digest, { offset: 0, length: small.length }, signal()));
    assert.equal(error, undefined);
    assert.ok(data.equals(small), 'the honest peer served it');
    assert.equal(await registryMetric(metrics, 'shoal_mirror_fallbacks_total', { reason: 'digest-mismatch' }), 1);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_peer_penalties_total', { reason: 'digest-mismatch' }), 1);
    assert.equal(source.health.coolingOff(rogueIds[0]!), true);
    // The next request for the same digest goes to the other peer only.
    const asked = liar.log.length;
    const again = await collect(source.read(digest, { offset: 10, length: 100 }, signal()));
    assert.ok(again.data.equals(small.subarray(10, 110)));
    assert.equal(liar.log.length, asked, 'the liar was not asked again');
    assert.ok((await registryMetric(metrics, 'shoal_mirror_fallbacks_total', { reason: 'filtered' })) >= 1);
    assert.ok((await registryMetric(metrics, 'shoal_mirror_peer_bytes_total')) >= 2 * small.length);
  });

  it('blames a peer that announced a wrong size, not the honest peer whose verified bytes disagree', async () => {
    const digest = sha256(small);
    const sizeLiar = await rogue(0, (req, res) => {
      res.writeHead(200, { 'content-length': String(small.length - 100) });
      res.end(req.method === 'HEAD' ? undefined : small.subarray(0, small.length - 100));
    });
    peers = [sizeLiar.url, honestUrl];
    assert.deepEqual(await source.blob(digest, signal()), { digest, size: small.length - 100 });
    const { data, error } = await collect(source.read(digest, { offset: 0, length: small.length - 100 }, signal()));
    assert.match(String(error), /announced 49900 bytes/);
    assert.equal(data.length, 0, 'nothing released');
    assert.equal(source.health.coolingOff(rogueIds[0]!), true);
    assert.equal(source.health.coolingOff(honestKey.peerId), false);
    assert.deepEqual(await source.blob(digest, signal()), { digest, size: small.length }, 'the next lookup skips the liar');
  });

  it('resumes a broken large-blob stream on the next peer with a Range request', async () => {
    const digest = sha256(large);
    const half = 400_000;
    const breaker = await rogue(0, blobServer(large, (body, res) => res.write(body.subarray(0, half), () => setTimeout(() => res.destroy(), 20))));
    const second = await rogue(1, blobServer(large));
    peers = [breaker.url, second.url];
    const { data, error } = await collect(source.read(digest, { offset: 0, length: large.length }, signal()));
    assert.equal(error, undefined);
    assert.ok(data.equals(large));
    const resumed = second.log.find((l) => l.method === 'GET');
    assert.ok(resumed?.range, 'the second peer got a Range request');
    const from = Number(/^bytes=(\d+)-(\d+)$/.exec(resumed.range)?.[1]);
    assert.ok(from > 0 && from <= half, `resumed from ${from}`);
    assert.equal(resumed.range, `bytes=${from}-${large.length - 1}`);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_peer_penalties_total', { reason: 'peer-error' }), 1);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_peer_bytes_total', { peer: rogueIds[1]! }), large.length - from);
  });

  it('cuts a large blob whose digest does not match before its last chunk, and penalises the peer', async () => {
    const digest = sha256(large);
    const liar = await rogue(0, blobServer(large, (body, res) => res.end(Buffer.from(body).fill(1, 5000, 5001))));
    peers = [liar.url, honestUrl];
    const { data, error } = await collect(source.read(digest, { offset: 0, length: large.length }, signal()));
    assert.ok(error instanceof IntegrityError, String(error));
    assert.ok(data.length < large.length, `only ${data.length} bytes were released`);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_peer_penalties_total', { reason: 'digest-mismatch' }), 1);
    // containerd's retry (a Range from where it got to) then goes to the honest peer only.
    const rest = await collect(source.read(digest, { offset: data.length, length: large.length - data.length }, signal()));
    assert.ok(rest.data.equals(large.subarray(data.length)));
    assert.equal(liar.log.filter((l) => l.method === 'GET').length, 1);
  });

  it('gives up on a silent peer after the deadline and asks the next one; stops after 1 + retries peers', async () => {
    const digest = sha256(small);
    const silent = await rogue(0, () => undefined);
    const missing = await Promise.all([1, 2].map((i) => rogue(i, (req, res) => res.writeHead(404, { 'content-length': '0' }).end())));
    peers = [silent.url, ...missing.map((m) => m.url), honestUrl];
    const began = performance.now();
    source.configure({ retries: 3 });
    assert.deepEqual(await source.blob(digest, signal()), { digest, size: small.length });
    assert.ok(performance.now() - began < 2000, 'the silent peer cost one deadline');
    assert.equal(await registryMetric(metrics, 'shoal_mirror_fallbacks_total', { reason: 'timeout' }), 1);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_peer_penalties_total', { reason: 'timeout' }), 1);

    source.configure({ retries: 1 });
    const other = sha256(Buffer.from('only the honest peer has this'));
    store.add(Buffer.from('only the honest peer has this'));
    peers = [...missing.map((m) => m.url), honestUrl];
    assert.equal(await source.blob(other, signal()), undefined, 'two peers asked, both 404');
    assert.equal(missing.every((m) => m.log.some((l) => l.url.includes(other))), true);
    source.configure({ retries: 2 });
    assert.deepEqual(await source.blob(other, signal()), { digest: other, size: 29 });
    assert.throws(() => source.configure({ retries: -1 }), RangeError);
  });

  it('serves containerd through the internal listener from peers, and the peer listener refuses unsigned requests', async () => {
    const internal = new MirrorServer({ sources: [source], logger, metrics });
    const port = await internal.listen(0, '127.0.0.1');
    try {
      peers = [honestUrl];
      const res = await fetch(`http://127.0.0.1:${port}/v2/shoal/busybox/blobs/${sha256(large)}?ns=${ns}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(large));
      // A peer asking the internal listener (marker set) is never forwarded to peers.
      const marked = await fetch(`http://127.0.0.1:${port}/v2/shoal/busybox/blobs/${sha256(large)}`, { headers: { [peerMarkerHeader]: '1' } });
      await marked.arrayBuffer();
      assert.equal(marked.status, 404);
      const unsigned = await fetch(`${honestUrl.protocol}//${honestUrl.host}/v2/shoal/busybox/blobs/${sha256(large)}`, { headers: { [peerMarkerHeader]: '1' } });
      assert.equal(unsigned.status, 401);
      assert.equal(((await unsigned.json()) as { errors: { code: string }[] }).errors[0]?.code, 'UNAUTHORIZED');
      await assert.rejects(new MirrorServer({ sources: [source], logger, metrics }).listen(0, '0.0.0.0'), /only binds loopback/);
    } finally {
      await internal.close(0);
    }
  });
});
