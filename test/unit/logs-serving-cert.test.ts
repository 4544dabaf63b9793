import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServingCert } from '../../agents/logs/serving-cert.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';

describe('logs serving certificate', function () {
  this.timeout(20_000);
  const logger = createLogger({}, { level: 'error' });
  let stateDir: string;
  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'shoal-cert-'));
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('makes a self-signed ECDSA P-256 certificate for the node addresses once, then reuses it', async () => {
    const first = await loadServingCert({ stateDir, hosts: ['127.0.0.1', '10.0.0.5', 'node-a'], commonName: 'shoal-agent:a', logger });
    const cert = new X509Certificate(first.cert);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(cert.checkIP('10.0.0.5') && cert.checkIP('127.0.0.1') && cert.checkHost('node-a'));
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    assert.equal(first.caBundle, first.cert);
    assert.equal((await stat(join(stateDir, 'pki/logs-serving.key'))).mode & 0o777, 0o600);
    const again = await loadServingCert({ stateDir, hosts: ['10.0.0.5'], commonName: 'shoal-agent:a', logger });
    assert.equal(again.cert, first.cert, 'reused across restarts');
    const moved = await loadServingCert({ stateDir, hosts: ['10.0.0.6'], commonName: 'shoal-agent:a', logger });
    assert.notEqual(moved.cert, first.cert, 'replaced when it no longer covers the node address');
  });

  it('replaces a certificate close to expiry', async () => {
    const first = await loadServingCert({ stateDir, hosts: ['127.0.0.1'], commonName: 'a', logger });
    const later = await loadServingCert({ stateDir, hosts: ['127.0.0.1'], commonName: 'a', logger, now: () => new Date(Date.now() + 340 * 86_400_000) });
    assert.notEqual(later.cert, first.cert);
  });

  it('uses given files as they are, and rejects a half-given pair or a key of another certificate', async () => {
    const a = await loadServingCert({ stateDir: join(stateDir, 'a'), hosts: ['127.0.0.1'], commonName: 'a', logger });
    const b = await loadServingCert({ stateDir: join(stateDir, 'b'), hosts: ['127.0.0.1'], commonName: 'b', logger });
    await writeFile(join(stateDir, 'a.crt'), a.cert);
    await writeFile(join(stateDir, 'a.key'), a.key);
    await writeFile(join(stateDir, 'b.key'), b.key);
    const given = await loadServingCert({ stateDir, certFile: join(stateDir, 'a.crt'), keyFile: join(stateDir, 'a.key'), hosts: ['127.0.0.1'], commonName: 'x', logger });
    assert.deepEqual(given, { cert: a.cert, key: a.key, caBundle: a.cert });
    await assert.rejects(loadServingCert({ stateDir, certFile: join(stateDir, 'a.crt'), hosts: [], commonName: 'x', logger }), /must be given together/);
    await assert.rejects(loadServingCert({ stateDir, certFile: join(stateDir, 'a.crt'), keyFile: join(stateDir, 'b.key'), hosts: [], commonName: 'x', logger }), /b\.key is not the private key of .*a\.crt/);
  });
});
