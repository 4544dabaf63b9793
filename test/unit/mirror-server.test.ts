import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { MirrorServer, type MirrorServerOptions } from '../../agents/mirror/server.ts';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { PeerAuthenticator, PeerSigner } from '../../agents/mirror/peer-auth.ts';
import { peerMarkerHeader, peerMarkerValue } from '../../agents/mirror/protocol.ts';
import type { BlobDescriptor, ByteRange, ContentSource, ManifestDescriptor } from '../../agents/mirror/source.ts';
import { mediaTypes } from '../../agents/runtime/containerd/image.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { registryMetric } from '../metrics.ts';

const logger = createLogger({ component: 'mirror-server-test' }, { level: 'error' });
const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** An in-memory ContentSource; `corrupt` flips a byte in what read() returns, `fail` makes every call throw. */
class FakeSource implements ContentSource {
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, string>();
  readonly tags = new Map<string, string>();
  readonly calls: string[] = [];
  readonly aborted: string[] = [];
  corrupt = false;
  fail = false;
  chunkSize = 1000;
  chunkDelayMs = 0;
  readonly name: string;
  readonly local: boolean;

  constructor(name: string, local: boolean) {
    this.name = name;
    this.local = local;
  }

  addBlob(data: Buffer): string {
    const digest = sha256(data);
    this.blobs.set(digest, data);
    return digest;
  }

  addManifest(doc: object, mediaType: string, tagKey?: string): { digest: string; bytes: Buffer } {
    const bytes = Buffer.from(JSON.stringify(doc));
    const digest = this.addBlob(bytes);
    this.manifests.set(digest, mediaType);
    if (tagKey) this.tags.set(tagKey, digest);
    return { digest, bytes };
  }

  #enter(call: string): void {
    this.calls.push(call);
    if (this.fail) throw new Error(`${this.name} is down`);
  }

  async resolveTag(registry: string, name: string, tag: string): Promise<ManifestDescriptor | undefined> {
    this.#enter(`tag ${registry}/${name}:${tag}`);
    const digest = this.tags.get(`${registry}/${name}:${tag}`);
    return digest ? this.manifest(digest) : undefined;
  }

  async manifest(digest: string): Promise<ManifestDescriptor | undefined> {
    this.#enter(`manifest ${digest}`);
    const mediaType = this.manifests.get(digest);
    const blob = this.blobs.get(digest);
    return mediaType && blob ? { digest, size: blob.length, mediaType } : undefined;
  }

  async readManifest(manifest: ManifestDescriptor): Promise<Buffer> {
    this.#enter(`read-manifest ${manifest.digest}`);
    const blob = this.blobs.get(manifest.digest);
    if (!blob) throw new Error('gone');
    return this.corrupt ? Buffer.concat([blob, Buffer.from(' ')]) : blob;
  }

  async blob(digest: string): Promise<BlobDescriptor | undefined> {
    this.#enter(`blob ${digest}`);
    const blob = this.blobs.get(digest);
    return blob ? { digest, size: blob.length } : undefined;
  }

  read(digest: string, range: ByteRange, signal: AbortSignal): AsyncIterable<Uint8Array> {
    this.#enter(`read ${digest} ${range.offset}+${range.length}`);
    const blob = this.blobs.get(digest);
    if (!blob) throw new Error('gone');
    let data = Buffer.from(blob.subarray(range.offset, range.offset + range.length));
    if (this.corrupt) data[data.length - 1] = data[data.length - 1]! ^ 1;
    const { chunkSize, chunkDelayMs, aborted } = this;
    return (async function* () {
      try {
        for (let i = 0; i < data.length; i += chunkSize) {
          if (chunkDelayMs) await sleep(chunkDelayMs);
          yield data.subarray(i, i + chunkSize);
        }
      } finally {
        if (signal.aborted) aborted.push(digest);
      }
    })();
  }
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The connection broke before the body was complete. */
  truncated: boolean;
}

/** Sends `path` verbatim (no URL normalization, unlike fetch). */
function send(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      const done = (truncated: boolean): void => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), truncated });
      res.on('end', () => done(false));
      res.on('error', () => done(true));
      res.on('aborted', () => done(true));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function ociCode(reply: Reply): string {
  const parsed = JSON.parse(reply.body.toString()) as { errors: { code: string }[] };
  return parsed.errors[0]?.code ?? '';
}

describe('mirror server', () => {
  const ns = 'registry.example:5000';
  let local: FakeSource;
  let remote: FakeSource;
  let metrics: Registry;
  let server: MirrorServer;
  let port: number;
  let layer: Buffer;
  let layerDigest: string;
  let manifest: { digest: string; bytes: Buffer };

  async function start(options: Partial<MirrorServerOptions> = {}): Promise<void> {
    await server?.close(0);
    metrics = new Registry();
    server = new MirrorServer({ sources: [local, remote], logger, metrics, ...options });
    port = await server.listen(0);
  }

  beforeEach(async () => {
    local = new FakeSource('local', true);
    remote = new FakeSource('peers', false);
    layer = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 256));
    layerDigest = local.addBlob(layer);
    manifest = local.addManifest({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: {}, layers: [] }, mediaTypes.ociManifest, `${ns}/shoal/busybox:1.36`);
    local.tags.set(`${ns}/shoal/busybox:latest`, manifest.digest);
    await start();
  });

  afterEach(async () => {
    await server.close(0);
  });

  it('answers /v2/ with the API version header', async () => {
    for (const path of ['/v2/', '/v2']) {
      const reply = await send(port, 'GET', path);
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['docker-distribution-api-version'], 'registry/2.0');
      assert.equal(reply.body.toString(), '{}');
    }
    const head = await send(port, 'HEAD', '/v2/');
    assert.deepEqual([head.status, head.body.length], [200, 0]);
  });

  it('serves a manifest by tag and by digest with its media type, length and digest', async () => {
    for (const ref of ['1.36', manifest.digest]) {
      const reply = await send(port, 'GET', `/v2/shoal/busybox/manifests/${ref}?ns=${ns}`);
      assert.equal(reply.status, 200, ref);
      assert.equal(reply.headers['content-type'], mediaTypes.ociManifest);
      assert.equal(reply.headers['content-length'], String(manifest.bytes.length));
      assert.equal(reply.headers['docker-content-digest'], manifest.digest);
      assert.ok(reply.body.equals(manifest.bytes));
      const head = await send(port, 'HEAD', `/v2/shoal/busybox/manifests/${ref}?ns=${ns}`);
      assert.deepEqual([head.status, head.headers['content-length'], head.headers['docker-content-digest'], head.body.length], [200, String(manifest.bytes.length), manifest.digest, 0]);
    }
    assert.equal(local.calls.filter((c) => c.startsWith('read-manifest')).length, 2, 'HEAD does not read the manifest body');
    assert.equal(await registryMetric(metrics, 'shoal_mirror_requests_total', { registry: ns, cache: 'hit', source: 'internal' }), 4);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_served_bytes_total', { handler: 'manifest' }), 2 * manifest.bytes.length);
  });

  it('does not resolve latest unless resolveLatest, nor any tag without resolveTags or ns', async () => {
    const latest = await send(port, 'GET', `/v2/shoal/busybox/manifests/latest?ns=${ns}`);
    assert.deepEqual([latest.status, ociCode(latest)], [404, 'MANIFEST_UNKNOWN']);
    assert.ok(!local.calls.some((c) => c.includes(':latest')), 'no source was asked');
    const noNs = await send(port, 'GET', '/v2/shoal/busybox/manifests/1.36');
    assert.equal(noNs.status, 404);

    await start({ resolveLatest: true });
    assert.equal((await send(port, 'GET', `/v2/shoal/busybox/manifests/latest?ns=${ns}`)).status, 200);

    await start({ resolveTags: false });
    assert.equal((await send(port, 'GET', `/v2/shoal/busybox/manifests/1.36?ns=${ns}`)).status, 404);
    assert.equal((await send(port, 'GET', `/v2/shoal/busybox/manifests/${manifest.digest}?ns=${ns}`)).status, 200, 'digests are still served');
  });

  it('serves blobs whole, by range, and refuses unsatisfiable ranges with 416', async () => {
    const full = await send(port, 'GET', `/v2/shoal/busybox/blobs/${layerDigest}?ns=${ns}`);
    assert.equal(full.status, 200);
    assert.deepEqual([full.headers['content-type'], full.headers['content-length'], full.headers['accept-ranges'], full.headers['docker-content-digest']], ['application/octet-stream', '5000', 'bytes', layerDigest]);
    assert.ok(full.body.equals(layer));

    const partial = await send(port, 'GET', `/v2/shoal/busybox/blobs/${layerDigest}`, { range: 'bytes=1000-2499' });
    assert.deepEqual([partial.status, partial.headers['content-range'], partial.headers['content-length']], [206, 'bytes 1000-2499/5000', '1500']);
    assert.ok(partial.body.equals(layer.subarray(1000, 2500)));
    assert.ok(local.calls.includes(`read ${layerDigest} 1000+1500`), 'reads only the range from the source');

    const suffix = await send(port, 'GET', `/v2/x/blobs/${layerDigest}`, { range: 'bytes=-10' });
    assert.deepEqual([suffix.status, suffix.headers['content-range']], [206, 'bytes 4990-4999/5000']);
    assert.ok(suffix.body.equals(layer.subarray(4990)));

    for (const range of ['bytes=5000-', 'bytes=9-3', 'bytes=x']) {
      const refused = await send(port, 'GET', `/v2/x/blobs/${layerDigest}`, { range });
      assert.deepEqual([refused.status, refused.headers['content-range'], ociCode(refused)], [416, 'bytes */5000', 'RANGE_INVALID'], range);
    }
    const multi = await send(port, 'GET', `/v2/x/blobs/${layerDigest}`, { range: 'bytes=0-1,5-6' });
    assert.equal(multi.status, 200);
    assert.ok(multi.body.equals(layer));

    const head = await send(port, 'HEAD', `/v2/x/blobs/${layerDigest}`, { range: 'bytes=0-9' });
    assert.deepEqual([head.status, head.headers['content-length'], head.body.length], [206, '10', 0]);
  });

  it('answers 404 for what no source has, falling through sources in order', async () => {
    const missing = `sha256:${'0'.repeat(64)}`;
    const blob = await send(port, 'GET', `/v2/x/blobs/${missing}?ns=${ns}`);
    assert.deepEqual([blob.status, ociCode(blob)], [404, 'BLOB_UNKNOWN']);
    assert.deepEqual(remote.calls, [`blob ${missing}`], 'the non-local source was asked after the local one');
    const peerOnly = remote.addBlob(Buffer.from('only a peer has this'));
    const fromPeer = await send(port, 'GET', `/v2/x/blobs/${peerOnly}`);
    assert.equal(fromPeer.body.toString(), 'only a peer has this');
    assert.equal(await registryMetric(metrics, 'shoal_mirror_requests_total', { cache: 'miss' }), 1);
  });

  it('serves requests from peers (marker header) from local sources only', async () => {
    const peerOnly = remote.addBlob(Buffer.from('only a peer has this'));
    const marked = await send(port, 'GET', `/v2/x/blobs/${peerOnly}?ns=${ns}`, { [peerMarkerHeader]: peerMarkerValue });
    assert.equal(marked.status, 404);
    const forged = await send(port, 'GET', `/v2/x/blobs/${peerOnly}?ns=${ns}`, { [peerMarkerHeader]: '0' });
    assert.equal(forged.status, 404, 'any value of the marker counts');
    assert.deepEqual(remote.calls, [], 'a marked request is never forwarded');
    const localBlob = await send(port, 'GET', `/v2/x/blobs/${layerDigest}?ns=${ns}`, { [peerMarkerHeader]: peerMarkerValue });
    assert.equal(localBlob.status, 200);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_requests_total', { source: 'external', cache: 'hit' }), 1);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_served_bytes_total', { handler: 'blob', source: 'external' }), layer.length);
  });

  it('answers a failing source as a miss, counts it, and tries the next source', async () => {
    local.fail = true;
    const digest = remote.addBlob(layer);
    assert.equal(digest, layerDigest);
    const reply = await send(port, 'GET', `/v2/x/blobs/${layerDigest}`);
    assert.equal(reply.status, 200, 'served by the next source');
    remote.fail = true;
    const none = await send(port, 'GET', `/v2/x/manifests/${manifest.digest}?ns=${ns}`);
    assert.deepEqual([none.status, ociCode(none)], [404, 'MANIFEST_UNKNOWN']);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_source_errors_total', { source: 'local' }), 2);
  });

  it('never completes a corrupt blob or serves a corrupt manifest', async () => {
    local.corrupt = true;
    const full = await send(port, 'GET', `/v2/x/blobs/${layerDigest}`);
    assert.equal(full.status, 200);
    assert.ok(full.truncated, 'the connection is cut');
    assert.ok(full.body.length < layer.length, `got ${full.body.length} bytes`);
    const wrongManifest = await send(port, 'GET', `/v2/x/manifests/${manifest.digest}`);
    assert.equal(wrongManifest.status, 404);
    // A single-chunk corrupt blob fails before any header is sent: a clean 404.
    local.chunkSize = 1_000_000;
    const single = await send(port, 'GET', `/v2/x/blobs/${layerDigest}`);
    assert.equal(single.status, 404);
  });

  it('stops reading from the source when the client goes away', async () => {
    local.chunkDelayMs = 20;
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: `/v2/x/blobs/${layerDigest}`, agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.once('error', reject);
      req.end();
    });
    for (let i = 0; i < 50 && local.aborted.length === 0; i++) await sleep(20);
    assert.deepEqual(local.aborted, [layerDigest]);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_requests_inflight', {}), 0);
  });

  it('refuses every method but GET and HEAD with 405, draining any pushed body', async () => {
    const body = Buffer.alloc(100_000);
    for (const method of ['PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND']) {
      const reply = await send(port, method, `/v2/x/blobs/uploads/`, { 'content-length': String(body.length) }, body);
      assert.deepEqual([reply.status, reply.headers['allow'], ociCode(reply)], [405, 'GET, HEAD', 'UNSUPPORTED'], method);
      const onManifest = await send(port, method, `/v2/x/manifests/1.36?ns=${ns}`);
      assert.equal(onManifest.status, 405, method);
    }
    // Methods HTTP does not know are refused by Node's parser before the mirror sees them.
    const unknown = await send(port, 'BREW', '/v2/').catch((err: Error) => err);
    assert.ok(unknown instanceof Error || unknown.status === 400);
    assert.equal((await send(port, 'GET', '/v2/')).status, 200);
  });

  it('answers malformed requests with OCI 400s and stays healthy after a burst of them', async () => {
    const digest = layerDigest;
    const bad = [
      `/v2/../etc/passwd/blobs/${digest}`,
      `/v2/x%2Fy/blobs/${digest}`,
      `/v2/x/blobs/sha256:${'A'.repeat(64)}`,
      `/v2/x/blobs/sha256:abc`,
      `/v2/x/manifests/bad!tag`,
      `/v2/x/manifests/1?ns=bad/ns`,
      `http://127.0.0.1/v2/x/blobs/${digest}`,
      `/v2/x%zz/blobs/${digest}`,
    ];
    for (const path of bad) {
      const reply = await send(port, 'GET', path);
      assert.equal(reply.status, 400, path);
      assert.equal(reply.headers['content-type'], 'application/json');
      assert.match(ociCode(reply), /^(NAME_INVALID|DIGEST_INVALID|MANIFEST_INVALID)$/);
    }
    const burst = await Promise.all(Array.from({ length: 200 }, (_, i) => send(port, i % 2 ? 'GET' : 'DELETE', bad[i % bad.length]!)));
    assert.ok(burst.every((r) => r.status === 400 || r.status === 405));
    const ok = await send(port, 'GET', `/v2/x/blobs/${digest}`);
    assert.equal(ok.status, 200);
    assert.ok(ok.body.equals(layer));
  });

  it('applies tag settings at runtime with configure()', async () => {
    const path = `/v2/shoal/busybox/manifests/latest?ns=${ns}`;
    assert.equal((await send(port, 'GET', path)).status, 404);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_fallbacks_total', { reason: 'filtered' }), 1);
    server.configure({ resolveLatest: true });
    assert.equal((await send(port, 'GET', path)).status, 200);
    server.configure({ resolveTags: false });
    assert.equal((await send(port, 'GET', `/v2/shoal/busybox/manifests/1.36?ns=${ns}`)).status, 404);
    assert.equal((await send(port, 'GET', `/v2/shoal/busybox/manifests/${manifest.digest}?ns=${ns}`)).status, 200, 'digests still served');
  });

  it('as the peer listener: signed member requests only, from local sources only, refusals counted', async () => {
    const self = new PeerSigner(await generateKeyPair('Ed25519'));
    const member = new PeerSigner(await generateKeyPair('Ed25519'));
    const outsider = new PeerSigner(await generateKeyPair('Ed25519'));
    await start({ peerAuth: new PeerAuthenticator({ selfPeerId: self.peerId, isMember: (id) => id === member.peerId }) });
    assert.equal(server.peerFacing, true);
    const peerOnly = remote.addBlob(Buffer.from('only a peer has this'));
    const signed = async (signer: PeerSigner, method: string, path: string): Promise<Record<string, string>> => ({ authorization: await signer.authorization(method, path, self.peerId) });
    const layerPath = `/v2/x/blobs/${layerDigest}?ns=${ns}`;
    const ok = await send(port, 'GET', layerPath, await signed(member, 'GET', layerPath));
    assert.deepEqual([ok.status, ok.body.equals(layer)], [200, true]);
    // No marker needed: everything on this listener is a peer request, answered from local sources only.
    const peerPath = `/v2/x/blobs/${peerOnly}`;
    assert.equal((await send(port, 'GET', peerPath, await signed(member, 'GET', peerPath))).status, 404);
    assert.deepEqual(remote.calls, []);
    const unsigned = await send(port, 'GET', layerPath);
    assert.deepEqual([unsigned.status, ociCode(unsigned), unsigned.headers['www-authenticate']], [401, 'UNAUTHORIZED', 'ShoalPeer']);
    const outside = await send(port, 'GET', layerPath, await signed(outsider, 'GET', layerPath));
    assert.deepEqual([outside.status, ociCode(outside)], [403, 'DENIED']);
    // Refused before anything else, even a write.
    assert.equal((await send(port, 'PUT', layerPath, {}, Buffer.from('x'))).status, 401);
    assert.equal((await send(port, 'PUT', layerPath, await signed(member, 'PUT', layerPath), Buffer.from('x'))).status, 405);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_peer_auth_refused_total', { reason: 'missing' }), 2);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_peer_auth_refused_total', { reason: 'not-member' }), 1);
    assert.equal(await registryMetric(metrics, 'shoal_mirror_requests_total', { source: 'external', cache: 'hit' }), 1);
    // The peer listener may bind the node address; the internal one may not.
    await server.close(0);
    port = await server.listen(0, '0.0.0.0');
    await assert.rejects(new MirrorServer({ sources: [local], logger, metrics }).listen(0, '0.0.0.0'), /only binds loopback/);
  });
});
