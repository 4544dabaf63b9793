import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { contentKeyCid } from '../../agents/mirror/p2p/cid.ts';

const digestKey = `sha256:${'0123456789abcdef'.repeat(4)}`;
const tagKey = 'docker.io/library/busybox:1.36';

describe('mirror p2p contentKeyCid', () => {
  for (const key of [digestKey, tagKey, '127.0.0.1:5000/shoal/busybox:latest', 'ghcr.io/ünïcode/x:1']) {
    it(`is CIDv1 raw over the sha2-256 of the key's UTF-8 text: ${key}`, async () => {
      const cid = contentKeyCid(key);
      assert.equal(cid.version, 1);
      assert.equal(cid.code, 0x55); // raw
      assert.equal(cid.multihash.code, 0x12); // sha2-256
      assert.equal(Buffer.from(cid.multihash.digest).toString('hex'), createHash('sha256').update(Buffer.from(key, 'utf8')).digest('hex'));
      // Same CID as multiformats builds it itself (what Spegel's createCid does in Go).
      const expected = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(key)));
      assert.ok(cid.equals(expected));
      assert.match(cid.toString(), /^bafkrei[a-z2-7]{52}$/);
    });
  }

  it('hashes the key text, not the blob: a digest key is not the CID of the content it names', () => {
    const blob = Buffer.from('hello');
    const key = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    assert.notEqual(Buffer.from(contentKeyCid(key).multihash.digest).toString('hex'), key.slice('sha256:'.length));
  });

  it('gives different keys different CIDs and the same key the same CID', () => {
    assert.ok(contentKeyCid(tagKey).equals(contentKeyCid(tagKey)));
    assert.ok(!contentKeyCid(tagKey).equals(contentKeyCid('docker.io/library/busybox:1.37')));
    assert.ok(!contentKeyCid(digestKey).equals(contentKeyCid(digestKey.toUpperCase())));
  });

  it('refuses the empty key', () => {
    assert.throws(() => contentKeyCid(''), /empty content key/);
  });
});
