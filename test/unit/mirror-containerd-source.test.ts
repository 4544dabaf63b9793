import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ContainerdSource, type ContainerdStore } from '../../agents/mirror/containerd-source.ts';
import { manifestMediaType } from '../../agents/mirror/manifest-type.ts';
import type { ReadOptions } from '../../agents/runtime/containerd/content.ts';
import { verifyDigest } from '../../agents/runtime/containerd/content.ts';
import { ContainerdError, Status } from '../../agents/runtime/containerd/errors.ts';
import { mediaTypes } from '../../agents/runtime/containerd/image.ts';
import type { CallOptions } from '../../agents/runtime/containerd/rpc.ts';
import type { Descriptor } from '../../agents/runtime/containerd/types.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';

const logger = createLogger({ component: 'mirror-source-test' }, { level: 'error' });
const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const notFound = (what: string): ContainerdError => new ContainerdError('fake', Status.NOT_FOUND, `${what}: not found`);

/** An in-memory containerd: image records and blobs; records every call with its options. */
class FakeContainerd implements ContainerdStore {
  readonly records = new Map<string, Descriptor>();
  readonly blobs = new Map<string, Buffer>();
  readonly calls: { method: string; arg: string; options: (CallOptions & ReadOptions) | undefined }[] = [];
  down = false;

  #call(method: string, arg: string, options: (CallOptions & ReadOptions) | undefined): void {
    this.calls.push({ method, arg, options });
    if (this.down) throw new ContainerdError(method, Status.UNAVAILABLE, 'connection refused');
  }

  images = {
    get: async (name: string, options?: CallOptions) => {
      this.#call('images.get', name, options);
      const target = this.records.get(name);
      if (!target) throw notFound(name);
      return { target };
    },
  };

  content = {
    info: async (digest: string, options?: CallOptions) => {
      this.#call('content.info', digest, options);
      const blob = this.blobs.get(digest);
      if (!blob) throw notFound(digest);
      return { digest, size: blob.length };
    },
    read: (digest: string, options?: ReadOptions): AsyncIterable<Buffer> => {
      this.#call('content.read', digest, options);
      const blob = this.blobs.get(digest) ?? Buffer.alloc(0);
      const offset = options?.offset ?? 0;
      const size = options?.size ? options.size : blob.length - offset;
      return (async function* () {
        yield blob.subarray(offset, offset + size);
      })();
    },
    readAll: async (digest: string, options?: CallOptions & { maxBytes?: number }) => {
      this.#call('content.readAll', digest, options);
      const blob = this.blobs.get(digest);
      if (!blob) throw notFound(digest);
      verifyDigest(digest, blob);
      return blob;
    },
  };

  put(data: Buffer | object): { digest: string; size: number } {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(JSON.stringify(data));
    const digest = sha256(bytes);
    this.blobs.set(digest, bytes);
    return { digest, size: bytes.length };
  }
}

describe('mirror containerd source', () => {
  const signal = new AbortController().signal;
  let fake: FakeContainerd;
  let source: ContainerdSource;
  let manifest: { digest: string; size: number };

  beforeEach(() => {
    fake = new FakeContainerd();
    source = new ContainerdSource({ client: fake, logger, lookupTimeoutMs: 250 });
    manifest = fake.put({ schemaVersion: 2, mediaType: mediaTypes.dockerManifest, config: {}, layers: [] });
    fake.records.set('docker.io/library/busybox:1.36', { ...manifest, mediaType: mediaTypes.dockerManifest, annotations: {} });
  });

  it('resolves a tag through the image record CRI named, with short deadlines', async () => {
    assert.deepEqual(await source.resolveTag('docker.io', 'busybox', '1.36', signal), { ...manifest, mediaType: mediaTypes.dockerManifest });
    assert.deepEqual(
      fake.calls.map((c) => [c.method, c.arg, c.options?.timeoutMs, c.options?.signal === signal]),
      [
        ['images.get', 'docker.io/library/busybox:1.36', 250, true],
        ['content.info', manifest.digest, 250, true],
      ],
    );
  });

  it('answers undefined for a missing tag, a record without content or a record of another size', async () => {
    assert.equal(await source.resolveTag('docker.io', 'busybox', '9', signal), undefined);
    fake.records.set('docker.io/library/gone:1', { digest: sha256(Buffer.from('gone')), size: 4, mediaType: mediaTypes.ociManifest, annotations: {} });
    assert.equal(await source.resolveTag('docker.io', 'gone', '1', signal), undefined);
    fake.records.set('docker.io/library/odd:1', { ...manifest, size: manifest.size + 1, mediaType: mediaTypes.ociManifest, annotations: {} });
    assert.equal(await source.resolveTag('docker.io', 'odd', '1', signal), undefined);
    fake.records.set('docker.io/library/layer:1', { ...manifest, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', annotations: {} });
    assert.equal(await source.resolveTag('docker.io', 'layer', '1', signal), undefined);
  });

  it('finds the media type of a manifest by digest once, and refuses non-manifests', async () => {
    assert.deepEqual(await source.manifest(manifest.digest, signal), { ...manifest, mediaType: mediaTypes.dockerManifest });
    assert.deepEqual(await source.manifest(manifest.digest, signal), { ...manifest, mediaType: mediaTypes.dockerManifest });
    assert.equal(fake.calls.filter((c) => c.method === 'content.readAll').length, 1, 'the media type is cached by digest');
    const layer = fake.put(Buffer.from('not json'));
    assert.equal(await source.manifest(layer.digest, signal), undefined);
    assert.equal(await source.manifest(sha256(Buffer.from('absent')), signal), undefined);
  });

  it('propagates failures other than NOT_FOUND for the server to count', async () => {
    fake.down = true;
    await assert.rejects(source.blob(manifest.digest, signal), (err: unknown) => err instanceof ContainerdError && err.code === Status.UNAVAILABLE);
    await assert.rejects(source.resolveTag('docker.io', 'busybox', '1.36', signal), ContainerdError);
  });

  it('reads blob ranges with containerd offset and size, without a deadline', async () => {
    const layer = fake.put(Buffer.from('0123456789'));
    assert.deepEqual(await source.blob(layer.digest, signal), layer);
    const parts: Buffer[] = [];
    for await (const chunk of source.read(layer.digest, { offset: 3, length: 4 }, signal)) parts.push(Buffer.from(chunk));
    assert.equal(Buffer.concat(parts).toString(), '3456');
    const read = fake.calls.find((c) => c.method === 'content.read');
    assert.deepEqual([read?.options?.offset, read?.options?.size, read?.options?.timeoutMs], [3, 4, null]);
  });

  it('fingerprints manifest media types', () => {
    const json = (doc: object): Buffer => Buffer.from(JSON.stringify(doc));
    assert.equal(manifestMediaType(json({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [] })), mediaTypes.ociIndex);
    assert.equal(manifestMediaType(json({ schemaVersion: 2, manifests: [] })), mediaTypes.ociIndex);
    assert.equal(manifestMediaType(json({ schemaVersion: 2, config: {}, layers: [] })), mediaTypes.ociManifest);
    assert.equal(manifestMediaType(json({ schemaVersion: 2, mediaType: mediaTypes.dockerManifestList, manifests: [] })), mediaTypes.dockerManifestList);
    assert.equal(manifestMediaType(json({ schemaVersion: 2, mediaType: mediaTypes.ociConfig })), undefined);
    assert.equal(manifestMediaType(json({ schemaVersion: 1, fsLayers: [] })), undefined);
    assert.equal(manifestMediaType(json({ architecture: 'amd64', rootfs: {} })), undefined);
    assert.equal(manifestMediaType(Buffer.from('[1]')), undefined);
    assert.equal(manifestMediaType(Buffer.from('{not json')), undefined);
  });
});
