import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { verifyDigest } from '../../agents/runtime/containerd/content.ts';
import { chainId, chainIds, hostPlatform, ImageError, mediaTypes, platformMatches, resolveImage, type ImageSource } from '../../agents/runtime/containerd/image.ts';
import type { Descriptor } from '../../agents/runtime/containerd/types.ts';

const sha = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** An in-memory content store + image records, shaped like ContainerdClient for resolveImage. */
class FakeStore implements ImageSource {
  readonly blobs = new Map<string, Buffer>();
  readonly records = new Map<string, Descriptor>();
  readonly images = { get: async (name: string) => ({ name, target: this.record(name) }) };
  readonly content = {
    readAll: async (digest: string) => {
      const blob = this.blobs.get(digest);
      if (!blob) throw new Error(`no blob ${digest}`);
      return blob;
    },
  };
  private record(name: string): Descriptor {
    const target = this.records.get(name);
    if (!target) throw new Error(`no image ${name}`);
    return target;
  }
  put(doc: object, mediaType: string): Descriptor {
    const blob = Buffer.from(JSON.stringify(doc));
    const digest = sha(blob);
    this.blobs.set(digest, blob);
    return { mediaType, digest, size: blob.length, annotations: {} };
  }
  /** A single-platform image: config with `diffIds`, manifest listing as many layers. */
  image(diffIds: string[], arch = 'amd64', manifestType: string = mediaTypes.ociManifest, configType: string = mediaTypes.ociConfig): Descriptor {
    const config = this.put({ architecture: arch, os: 'linux', config: { Env: ['PATH=/bin'], Cmd: ['sh'], User: '1000' }, rootfs: { type: 'layers', diff_ids: diffIds } }, configType);
    const layers = diffIds.map((d, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(`layer-${i}-${d}`), size: 10 + i }));
    return this.put({ schemaVersion: 2, mediaType: manifestType, config: { mediaType: config.mediaType, digest: config.digest, size: config.size }, layers }, manifestType);
  }
}

describe('containerd image', () => {
  const d1 = sha('one');
  const d2 = sha('two');
  const d3 = sha('three');

  it('computes chain IDs per the OCI image spec', () => {
    const c2 = sha(`${d1} ${d2}`);
    const c3 = sha(`${c2} ${d3}`);
    assert.deepEqual(chainIds([d1, d2, d3]), [d1, c2, c3]);
    assert.equal(chainId([d1]), d1, 'a single layer’s chain ID is its diff ID');
    assert.equal(chainId([d1, d2, d3]), c3);
    assert.deepEqual(chainIds([]), []);
    assert.throws(() => chainId([]), ImageError);
  });

  it('maps Node’s arch to the OCI platform and matches variants like containerd', () => {
    assert.deepEqual(hostPlatform('x64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(hostPlatform('arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.equal(platformMatches({ os: 'linux', architecture: 'arm64' }, hostPlatform('arm64')), true);
    assert.equal(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, hostPlatform('arm')), false);
    assert.equal(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }), false);
    assert.equal(platformMatches({ os: 'windows', architecture: 'amd64' }, hostPlatform('x64')), false);
  });

  it('resolves an OCI manifest to config, layers and chain ID', async () => {
    const store = new FakeStore();
    store.records.set('reg/app:1', store.image([d1, d2]));
    const image = await resolveImage(store, 'reg/app:1', hostPlatform('x64'));
    assert.deepEqual(image.diffIds, [d1, d2]);
    assert.equal(image.chainId, sha(`${d1} ${d2}`));
    assert.equal(image.layers.length, 2);
    assert.equal(image.config.mediaType, mediaTypes.ociConfig);
    assert.deepEqual(image.imageConfig, { User: '1000', Env: ['PATH=/bin'], Cmd: ['sh'] });
    assert.deepEqual(image.platform, { os: 'linux', architecture: 'amd64' });
  });

  it('resolves Docker schema2 manifest lists by platform, skipping attestations', async () => {
    const store = new FakeStore();
    const amd = store.image([d1], 'amd64', mediaTypes.dockerManifest, mediaTypes.dockerConfig);
    const arm = store.image([d2, d3], 'arm64', mediaTypes.dockerManifest, mediaTypes.dockerConfig);
    const list = store.put(
      {
        schemaVersion: 2,
        mediaType: mediaTypes.dockerManifestList,
        manifests: [
          { ...amd, platform: { os: 'unknown', architecture: 'unknown' } },
          { ...arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
          { ...amd, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      },
      mediaTypes.dockerManifestList,
    );
    store.records.set('reg/multi:1', list);
    const onAmd = await resolveImage(store, 'reg/multi:1', hostPlatform('x64'));
    assert.equal(onAmd.manifest.digest, amd.digest);
    assert.equal(onAmd.chainId, d1);
    const onArm = await resolveImage(store, 'reg/multi:1', hostPlatform('arm64'));
    assert.equal(onArm.manifest.digest, arm.digest);
    assert.equal(onArm.chainId, sha(`${d2} ${d3}`));
    await assert.rejects(resolveImage(store, 'reg/multi:1', { os: 'linux', architecture: 's390x' }), /no manifest for linux\/s390x \(has unknown\/unknown, linux\/arm64\/v8, linux\/amd64\)/);
  });

  it('follows an OCI index (even without mediaType on the record) and validates documents', async () => {
    const store = new FakeStore();
    const amd = store.image([d1, d2, d3]);
    const index = store.put({ schemaVersion: 2, manifests: [{ ...amd, platform: { os: 'linux', architecture: 'amd64' } }] }, '');
    store.records.set('reg/oci:1', index);
    assert.equal((await resolveImage(store, 'reg/oci:1', hostPlatform('x64'))).chainId, chainId([d1, d2, d3]));

    const mismatch = store.put({ schemaVersion: 2, config: { mediaType: mediaTypes.ociConfig, digest: sha('x'), size: 1 }, layers: [] }, mediaTypes.ociManifest);
    store.blobs.set(sha('x'), Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [d1] } })));
    store.records.set('reg/bad:1', mismatch);
    await assert.rejects(resolveImage(store, 'reg/bad:1'), /0 layers but 1 diff_ids/);
    store.records.set('reg/schema1:1', store.put({ schemaVersion: 1 }, 'application/vnd.docker.distribution.manifest.v1+prettyjws'));
    await assert.rejects(resolveImage(store, 'reg/schema1:1'), /unsupported media type/);
  });

  it('verifies blob digests', () => {
    const blob = Buffer.from('{"a":1}');
    verifyDigest(sha(blob), blob);
    assert.throws(() => verifyDigest(sha('other'), blob), /digest mismatch/);
    assert.throws(() => verifyDigest('md5:abc', blob), /unsupported digest/);
  });
});
