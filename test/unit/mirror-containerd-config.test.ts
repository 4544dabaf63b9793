// The containerd config check's verdicts (agents/mirror/containerd-config.ts) on CRI Status `info.config`
// JSON shaped as containerd 1.6.20 answers (verified by test/integration/mirror-policy.test.ts).
import assert from 'node:assert/strict';
import { judgeContainerdConfig } from '../../agents/mirror/containerd-config.ts';

/** The parts of containerd 1.6.20's CRI config JSON the check reads, with a few neighbours for realism. */
const criConfig = (configPath: string, discardUnpackedLayers: boolean): Record<string, string> => ({
  config: JSON.stringify({
    containerd: { snapshotter: 'overlayfs', defaultRuntimeName: 'runc', discardUnpackedLayers },
    registry: { configPath, mirrors: null, configs: null, auths: null, headers: null },
    containerdRootDir: '/var/lib/containerd',
  }),
  golang: '"go1.19.8"',
});

const verdict = (info: Record<string, string>, dirs = ['/etc/containerd/certs.d']): string => {
  const v = judgeContainerdConfig(info, dirs);
  return v.ok ? 'ok' : v.reason;
};

describe('containerd config check', () => {
  it('accepts config_path = our certs.d with layers kept', () => {
    assert.equal(verdict(criConfig('/etc/containerd/certs.d', false)), 'ok');
    assert.equal(verdict(criConfig('/etc/containerd/certs.d/', false)), 'ok', 'a trailing slash is the same directory');
  });

  it('accepts our certs.d among several config_path entries, or under its resolved name', () => {
    assert.equal(verdict(criConfig('/etc/docker/certs.d:/etc/containerd/certs.d', false)), 'ok');
    assert.equal(verdict(criConfig('/real/certs.d', false), ['/etc/containerd/certs.d', '/real/certs.d']), 'ok');
  });

  it('reports ConfigPathNotSet when containerd reads no hosts.toml', () => {
    assert.equal(verdict(criConfig('', false)), 'ConfigPathNotSet');
    assert.equal(verdict(criConfig('', true)), 'ConfigPathNotSet', 'the path problem comes first');
    const v = judgeContainerdConfig(criConfig('', false), ['/etc/containerd/certs.d']);
    assert.ok(!v.ok && v.message.includes('config_path = "/etc/containerd/certs.d"'), 'the message says what to set');
  });

  it('reports ConfigPathMismatch when containerd reads another directory', () => {
    assert.equal(verdict(criConfig('/etc/docker/certs.d', false)), 'ConfigPathMismatch');
  });

  it('reports DiscardUnpackedLayers when compressed layers are dropped after unpacking', () => {
    assert.equal(verdict(criConfig('/etc/containerd/certs.d', true)), 'DiscardUnpackedLayers');
  });

  it('reports ContainerdConfigUnknown without a parsable config entry', () => {
    assert.equal(verdict({}), 'ContainerdConfigUnknown');
    assert.equal(verdict({ config: '{not json' }), 'ContainerdConfigUnknown');
    assert.equal(verdict({ config: '{}' }), 'ConfigPathNotSet', 'a config without a registry section reads no hosts.toml');
  });
});
