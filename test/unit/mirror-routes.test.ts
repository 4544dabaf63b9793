import assert from 'node:assert/strict';
import { MirrorError } from '../../agents/mirror/errors.ts';
import { canonicalRegistry, isRegistryHost, tagKey } from '../../agents/mirror/keys.ts';
import { parseRoute } from '../../agents/mirror/routes.ts';

const digest = `sha256:${'ab'.repeat(32)}`;

/** The MirrorError parseRoute throws for `target`. */
function rejection(target: string): MirrorError {
  try {
    parseRoute(target);
  } catch (err) {
    assert.ok(err instanceof MirrorError, `expected a MirrorError for ${target}, got ${String(err)}`);
    return err;
  }
  assert.fail(`${target} was accepted`);
}

describe('mirror routes', () => {
  it('parses the base, manifest (tag and digest) and blob routes with ns', () => {
    assert.deepEqual(parseRoute('/v2/'), { kind: 'base' });
    assert.deepEqual(parseRoute('/v2'), { kind: 'base' });
    assert.deepEqual(parseRoute('/v2/shoal/busybox/manifests/1.36?ns=127.0.0.1:5000'), {
      kind: 'manifest',
      name: 'shoal/busybox',
      reference: { kind: 'tag', tag: '1.36' },
      registry: '127.0.0.1:5000',
    });
    assert.deepEqual(parseRoute(`/v2/library/busybox/manifests/${digest}?ns=docker.io`), {
      kind: 'manifest',
      name: 'library/busybox',
      reference: { kind: 'digest', digest },
      registry: 'docker.io',
    });
    assert.deepEqual(parseRoute(`/v2/a/b/c/blobs/${digest}`), { kind: 'blob', name: 'a/b/c', digest, registry: undefined });
  });

  it('accepts a percent-encoded colon in a digest (some clients escape it)', () => {
    assert.deepEqual(parseRoute(`/v2/x/blobs/${digest.replace(':', '%3A')}`), { kind: 'blob', name: 'x', digest, registry: undefined });
  });

  it('canonicalizes Docker Hub aliases in ns and ignores other parameters', () => {
    const route = parseRoute('/v2/library/busybox/manifests/1.36?ns=registry-1.docker.io&foo=bar');
    assert.equal(route.kind === 'manifest' ? route.registry : undefined, 'docker.io');
  });

  it('rejects path traversal, encoded slashes, empty segments and absolute-form targets with 400 NAME_INVALID', () => {
    for (const target of [
      `/v2/../etc/passwd/blobs/${digest}`,
      `/v2/a/../b/blobs/${digest}`,
      `/v2/%2e%2e/etc/blobs/${digest}`,
      `/v2/a%2Fb/blobs/${digest}`,
      `/v2/a%2fb/manifests/1`,
      `/v2/a%5Cb/manifests/1`,
      `/v2/a\\b/manifests/1`,
      `/v2//etc/passwd/blobs/${digest}`,
      `/v2/a//b/blobs/${digest}`,
      `http://evil.example/v2/a/blobs/${digest}`,
      `/v2/UPPER/blobs/${digest}`,
      `/v2/a-/blobs/${digest}`,
      `/v2/a___b/blobs/${digest}`,
      `/v2/${'a'.repeat(256)}/blobs/${digest}`,
      `/v2/a%zz/blobs/${digest}`,
      `/v2/${'a/'.repeat(1100)}blobs/${digest}`,
    ]) {
      const err = rejection(target);
      assert.equal(err.status, 400, target);
      assert.equal(err.code, 'NAME_INVALID', target);
    }
  });

  it('accepts the longest valid name and the separators the grammar allows', () => {
    assert.equal(parseRoute(`/v2/${'a'.repeat(255)}/blobs/${digest}`).kind, 'blob');
    assert.equal(parseRoute(`/v2/a.b_c__d---e/f/blobs/${digest}`).kind, 'blob');
  });

  it('rejects malformed digests with 400 DIGEST_INVALID, and answers other algorithms 404', () => {
    for (const bad of ['sha256:' + 'AB'.repeat(32), 'sha256:' + 'ab'.repeat(31), 'sha256:' + 'ab'.repeat(33), 'md5:abc', 'sha256:', 'sha256', 'sha256:..', 'SHA256:' + 'ab'.repeat(32)]) {
      const err = rejection(`/v2/x/blobs/${encodeURIComponent(bad)}`);
      assert.equal(err.status, 400, bad);
      assert.equal(err.code, 'DIGEST_INVALID', bad);
    }
    const manifest = rejection(`/v2/x/manifests/sha256:${'ab'.repeat(31)}`);
    assert.equal(manifest.code, 'DIGEST_INVALID');
    const sha512 = rejection(`/v2/x/blobs/sha512:${'ab'.repeat(64)}`);
    assert.deepEqual([sha512.status, sha512.code], [404, 'BLOB_UNKNOWN']);
    const sha512Manifest = rejection(`/v2/x/manifests/sha512:${'ab'.repeat(64)}`);
    assert.deepEqual([sha512Manifest.status, sha512Manifest.code], [404, 'MANIFEST_UNKNOWN']);
  });

  it('rejects bad tags and bad or repeated ns with 400', () => {
    assert.equal(rejection('/v2/x/manifests/-tag').code, 'MANIFEST_INVALID');
    assert.equal(rejection(`/v2/x/manifests/${'t'.repeat(129)}`).code, 'MANIFEST_INVALID');
    assert.equal(rejection('/v2/x/manifests/1?ns=a/b').code, 'NAME_INVALID');
    assert.equal(rejection('/v2/x/manifests/1?ns=').code, 'NAME_INVALID');
    assert.equal(rejection('/v2/x/manifests/1?ns=docker.io&ns=ghcr.io').code, 'NAME_INVALID');
    assert.equal(rejection('/v2/x/manifests/1?ns=..').code, 'NAME_INVALID');
  });

  it('answers 404 UNSUPPORTED for endpoints that are not served', () => {
    for (const target of ['/', '/healthz', '/v2/_catalog', '/v2/x/tags/list', `/v2/x/referrers/${digest}`, '/v2/x/blobs/uploads/', `/v2/blobs/${digest}`]) {
      const err = rejection(target);
      assert.deepEqual([err.status, err.code], [404, 'UNSUPPORTED'], target);
    }
  });

  it('names tags the way containerd names image records', () => {
    assert.equal(tagKey('docker.io', 'busybox', '1.36'), 'docker.io/library/busybox:1.36');
    assert.equal(tagKey('index.docker.io', 'library/busybox', '1.36'), 'docker.io/library/busybox:1.36');
    assert.equal(tagKey('docker.io', 'bitnami/redis', '7'), 'docker.io/bitnami/redis:7');
    assert.equal(tagKey('127.0.0.1:5000', 'busybox', '1.36'), '127.0.0.1:5000/busybox:1.36');
    assert.equal(canonicalRegistry('ghcr.io'), 'ghcr.io');
  });

  it('recognizes registry hosts', () => {
    for (const ok of ['docker.io', 'localhost', 'localhost:5000', 'registry:5000', '127.0.0.1:5000', '[::1]:5000', 'Quay.IO']) assert.ok(isRegistryHost(ok), ok);
    for (const bad of ['', 'registry', '..', 'a/b', 'a b', 'http://x', '-a.b', 'a.b:', 'a.b:123456']) assert.ok(!isRegistryHost(bad), bad);
  });
});
