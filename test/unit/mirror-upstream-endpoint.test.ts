import assert from 'node:assert/strict';
import { apiHost, hostName, isLoopbackHost, plainHttpAllowed, registryOrigin, schemeAllowed } from '../../agents/mirror/upstream/endpoint.ts';

const none: ReadonlySet<string> = new Set();

describe('mirror upstream endpoint (scheme rules)', () => {
  it('uses plain HTTP for loopback hosts only', () => {
    for (const host of ['127.0.0.1:5000', '127.1.2.3', 'localhost:5000', 'LOCALHOST', '[::1]:5000', '[::1]', '::1']) {
      assert.ok(isLoopbackHost(host), host);
      assert.equal(registryOrigin(host, none).split('://')[0], 'http', host);
    }
    for (const host of ['ghcr.io', 'registry.example.com:5000', '10.0.0.1:5000', '128.0.0.1', '127.0.0.256', '127.0.0.1.nip.io', 'localhost.example.com', '[::2]:5000']) {
      assert.equal(isLoopbackHost(host), false, host);
      assert.equal(registryOrigin(host, none).split('://')[0], 'https', host);
    }
  });

  it('uses plain HTTP for hosts listed as insecure, with or without the port', () => {
    assert.equal(registryOrigin('registry.local:5000', new Set(['registry.local:5000'])), 'http://registry.local:5000');
    assert.equal(registryOrigin('registry.local:5000', new Set(['registry.local'])), 'http://registry.local:5000');
    assert.equal(registryOrigin('registry.local:5000', new Set(['registry.local:5001'])), 'https://registry.local:5000');
    assert.equal(registryOrigin('other.local', new Set(['registry.local'])), 'https://other.local');
  });

  it('maps Docker Hub names to its API host over HTTPS', () => {
    for (const name of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'Docker.IO']) {
      assert.equal(apiHost(name), 'registry-1.docker.io', name);
      assert.equal(registryOrigin(name, none), 'https://registry-1.docker.io', name);
    }
    assert.equal(apiHost('ghcr.io'), 'ghcr.io');
  });

  it('parses host names out of host:port and bracketed IPv6', () => {
    assert.equal(hostName('Example.com:443'), 'example.com');
    assert.equal(hostName('[fd00::1]:5000'), 'fd00::1');
    assert.equal(hostName('fd00::1'), 'fd00::1');
    assert.equal(plainHttpAllowed('[fd00::1]:5000', new Set(['fd00::1'])), true);
  });

  it('applies the same rule to redirect targets and token realms', () => {
    assert.ok(schemeAllowed(new URL('https://bucket.s3.amazonaws.com/x'), none));
    assert.ok(schemeAllowed(new URL('http://127.0.0.1:9000/x'), none));
    assert.ok(!schemeAllowed(new URL('http://bucket.s3.amazonaws.com/x'), none));
    assert.ok(schemeAllowed(new URL('http://storage.local/x'), new Set(['storage.local'])));
    assert.ok(!schemeAllowed(new URL('ftp://127.0.0.1/x'), none));
    assert.ok(!schemeAllowed(new URL('file:///etc/passwd'), none));
  });
});
