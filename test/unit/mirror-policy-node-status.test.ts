// What the Node status says about the mirror and the images (agents/node/registration.ts,
// agents/node/image-inventory.ts), and olderThan on timestamps as they arrive from JSON.
import assert from 'node:assert/strict';
import { nodeImages, maxNodeImages } from '../../agents/node/image-inventory.ts';
import { desiredNodeStatus, type NodeIdentity } from '../../agents/node/registration.ts';
import type { CriImage } from '../../agents/runtime/containerd/cri.ts';
import type { MirrorPolicy, Node } from '../../operator/src/api/generated/types.ts';
import { olderThan } from '../../operator/src/mirror/selection.ts';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const cri = (id: string, repoTags: string[], repoDigests: string[], size: number): CriImage => ({ id, repoTags, repoDigests, size, username: '', pinned: false });

describe('Node status.images', () => {
  it('keys images by manifest digest, falls back to the id, merges names and orders largest first', () => {
    const images = nodeImages([
      cri(d('1'), ['r:5000/a:1', 'r:5000/a:latest'], [`r:5000/a@${d('a')}`], 100),
      cri(d('2'), [], [], 300), // untagged, no repo digest: the id (config digest) is all we have
      cri(d('3'), ['r:5000/b:1'], [`r:5000/b@${d('b')}`, `r:5000/b2@${d('b')}`], 200),
      cri('not-a-digest', ['x:1'], [], 50),
    ]);
    assert.deepEqual(images, [
      { digest: d('2'), names: [], sizeBytes: 300 },
      { digest: d('b'), names: ['r:5000/b2@' + d('b'), 'r:5000/b:1', 'r:5000/b@' + d('b')].sort(), sizeBytes: 200 },
      { digest: d('a'), names: ['r:5000/a:1', 'r:5000/a:latest', `r:5000/a@${d('a')}`], sizeBytes: 100 },
    ]);
  });

  it('caps the list at the CRD limit, keeping the largest', () => {
    const many = Array.from({ length: maxNodeImages + 20 }, (_, i) => cri(`sha256:${i.toString(16).padStart(64, '0')}`, [], [], i));
    const images = nodeImages(many);
    assert.equal(images.length, maxNodeImages);
    assert.equal(images.at(-1)?.sizeBytes, 20);
  });
});

describe('desiredNodeStatus with the mirror', () => {
  const identity: NodeIdentity = { name: 'n', labels: {}, maxWorkloads: 5, agentVersion: 'test' };
  const host = { capacity: { milliCpu: 2000, memoryBytes: 1 << 30 }, info: { os: 'linux', arch: 'amd64', kernelVersion: '6' }, addresses: [] };
  const held = [{ digest: d('a'), names: ['r/a:1'], sizeBytes: 1 }];
  const node: Node = { apiVersion: 'shoal.dev/v1alpha1', kind: 'Node', metadata: { name: 'n', generation: 3 }, spec: {}, status: { images: held, peer: { id: '12D3KooWabc', addresses: ['/ip4/1.2.3.4/tcp/1'] } } };

  it('adds MirrorReady, status.mirror and status.peer from the mirror report', () => {
    const status = desiredNodeStatus(node, identity, { containerdVersion: '1.6.20' }, {
      host,
      mirror: { ready: { status: 'False', reason: 'NoPolicy', message: 'none' }, peer: { id: '12D3KooWxyz', addresses: [] }, mirror: { endpoint: 'http://127.0.0.1:5050', preheat: [{ image: 'r/a:1', phase: 'Pending' }] } },
      images: [],
    });
    const ready = status.conditions?.find((c) => c.type === 'MirrorReady');
    assert.deepEqual([ready?.status, ready?.reason, ready?.observedGeneration], ['False', 'NoPolicy', 3]);
    assert.equal(status.peer?.id, '12D3KooWxyz');
    assert.deepEqual(status.mirror, { endpoint: 'http://127.0.0.1:5050', preheat: [{ image: 'r/a:1', phase: 'Pending' }] });
    assert.deepEqual(status.images, []);
  });

  it('keeps images and peer it does not know yet (server-side apply would drop fields left out), and no MirrorReady without a mirror', () => {
    const status = desiredNodeStatus(node, identity, { containerdVersion: '1.6.20' }, { host });
    assert.deepEqual(status.images, held);
    assert.equal(status.peer?.id, '12D3KooWabc');
    assert.equal(status.conditions?.some((c) => c.type === 'MirrorReady'), false);
    assert.equal(status.mirror, undefined);
  });
});

describe('olderThan', () => {
  const p = (name: string, creationTimestamp: unknown): MirrorPolicy => ({ metadata: { name, creationTimestamp: creationTimestamp as Date }, spec: { registries: [{ host: 'r' }] } });
  it('orders RFC 3339 strings (as decoded from JSON) and Dates by time, then by name', () => {
    assert.equal(olderThan(p('b', '2026-01-01T00:00:09Z'), p('a', '2026-01-01T00:00:10Z')), true);
    assert.equal(olderThan(p('a', '2026-01-01T00:00:10Z'), p('b', '2026-01-01T00:00:09Z')), false);
    assert.equal(olderThan(p('a', new Date('2026-01-01T00:00:10Z')), p('b', '2026-01-01T00:00:10Z')), true);
    assert.equal(olderThan(p('b', new Date('2026-01-01T00:00:10Z')), p('a', '2026-01-01T00:00:10Z')), false);
  });
});
