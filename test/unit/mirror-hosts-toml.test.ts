import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { absentSuffix, backupSuffix, HostsTomlError, HostsTomlWriter, insertionOffset, withMirror, withoutMirror } from '../../agents/mirror/hosts-toml.ts';

const mirror = 'http://127.0.0.1:5050';
const registry = 'registry.example:5000';

/** Existing hosts.toml files the writer must keep byte for byte. */
const shapes: Record<string, Buffer> = {
  'server only': Buffer.from('server = "https://registry.example:5000"\n'),
  'server only, no final newline': Buffer.from('server = "https://registry.example:5000"'),
  'empty file': Buffer.alloc(0),
  'other hosts and a header table': Buffer.from(
    [
      'server = "https://registry.example:5000"',
      'skip_verify = false',
      '',
      '[host."https://mirror.corp.example"]',
      '  capabilities = ["pull", "resolve"]',
      '  ca = "/etc/containerd/certs.d/registry.example:5000/ca.crt"',
      '  [host."https://mirror.corp.example".header]',
      '    Authorization = "Basic Zm9vOmJhcg=="',
      '',
      "[host.'https://registry.example:5000']",
      '  capabilities = ["pull", "resolve", "push"]',
      '',
    ].join('\n'),
  ),
  'comments everywhere, CRLF': Buffer.from(
    ['# Managed by config management', 'server = "https://registry.example:5000" # upstream', '', '# the corporate cache', '# (two comment lines)', '[host."https://cache.example"] # first', '  capabilities = ["pull"]', '# trailing comment', ''].join('\r\n'),
  ),
  'values that look like tables': Buffer.from(
    [
      'server = "https://registry.example:5000"',
      'note = """',
      '[host."https://not-a-table"]',
      'still a string \\""" ',
      '"""',
      "literal = '''",
      "[also.not.a.table]'''",
      'capabilities = [',
      '  # a comment inside an array',
      '  ["nested"],',
      '  "pull",',
      ']',
      'inline = { a = "[x]", b = \'[y]\' }',
      '[host."https://real.example"]',
      '  capabilities = ["pull"]',
      '',
    ].join('\n'),
  ),
  'only a host table, indented': Buffer.from('  [host."https://only.example"]\n  capabilities = ["pull"]\n'),
  'not valid UTF-8': Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9, 0xff, 0xfe]), Buffer.from('\nserver = "https://registry.example:5000"\n')]),
};

/** The tables of each shape that containerd will see (not text inside strings that merely looks like one). */
const realTables: Record<string, string[]> = {
  'other hosts and a header table': ['[host."https://mirror.corp.example"]', "[host.'https://registry.example:5000']"],
  'comments everywhere, CRLF': ['# the corporate cache', '[host."https://cache.example"]'],
  'values that look like tables': ['[host."https://real.example"]'],
  'only a host table, indented': ['  [host."https://only.example"]'],
};

describe('mirror hosts.toml writer', () => {
  let dir: string;
  let writer: HostsTomlWriter;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-hosts-'));
    writer = new HostsTomlWriter({ certsDir: dir });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const hostsDir = (): string => join(dir, registry);
  const hostsPath = (): string => join(hostsDir(), 'hosts.toml');

  for (const [shape, original] of Object.entries(shapes)) {
    it(`keeps an existing file byte for byte through install, re-install and restore: ${shape}`, async () => {
      await mkdir(hostsDir(), { recursive: true });
      await writeFile(hostsPath(), original);
      assert.equal(await writer.install(registry, { mirrors: [mirror] }), 'updated');
      const installed = await readFile(hostsPath());
      const text = installed.toString('latin1');
      const ours = text.indexOf(`[host."${mirror}"]`);
      assert.ok(ours >= 0, text);
      // Ours is the first table of the result, every real table of the original comes after it and every
      // top-level key stays above it.
      assert.equal(insertionOffset(text), text.indexOf('# >>> shoal mirror'), text);
      for (const table of realTables[shape] ?? []) assert.ok(text.indexOf(table) > ours, `${table} must follow our table`);
      for (const key of ['server', 'skip_verify']) {
        const at = text.indexOf(`${key} =`);
        if (at >= 0) assert.ok(at < ours, `${key} moved below our table`);
      }
      assert.ok(Buffer.from(withoutMirror(text) ?? '', 'latin1').equals(original), 'removing our block gives the original bytes');
      assert.ok((await readFile(hostsPath() + backupSuffix)).equals(original), 'backup holds the original bytes');

      assert.equal(await writer.install(registry, { mirrors: [mirror] }), 'unchanged');
      assert.ok((await readFile(hostsPath())).equals(installed), 're-install does not prepend twice');

      assert.equal(await writer.restore(registry), 'restored');
      assert.ok((await readFile(hostsPath())).equals(original), 'restore puts back the original bytes');
      assert.deepEqual(await readdir(hostsDir()), ['hosts.toml']);
      assert.equal(await writer.restore(registry), 'unchanged');
      assert.ok((await readFile(hostsPath())).equals(original));
    });
  }

  it('creates the file and directory when there were none, and removes both on restore', async () => {
    assert.equal(await writer.install(registry, { mirrors: [mirror] }), 'created');
    const text = await readFile(hostsPath(), 'utf8');
    assert.match(text, /^# >>> shoal mirror.*\n\[host\."http:\/\/127\.0\.0\.1:5050"\]\n {2}capabilities = \["pull", "resolve"\]\n# <<< shoal mirror <<<\n$/);
    assert.doesNotMatch(text, /server/, 'no server line: containerd keeps its default upstream');
    assert.equal((await readFile(hostsPath() + absentSuffix, 'utf8')).trim(), 'created-dir');
    assert.equal(await writer.install(registry, { mirrors: [mirror] }), 'unchanged');
    assert.equal(await writer.restore(registry), 'removed');
    assert.ok(!existsSync(hostsDir()), 'the directory we created is gone');
    assert.deepEqual(await readdir(dir), []);
  });

  it('keeps a directory that existed (with its certificates) when removing the file it created', async () => {
    await mkdir(hostsDir(), { recursive: true });
    await writeFile(join(hostsDir(), 'ca.crt'), 'CERT');
    await writer.install(registry, { mirrors: [mirror] });
    assert.equal((await readFile(hostsPath() + absentSuffix, 'utf8')).trim(), 'existing-dir');
    assert.equal(await writer.restore(registry), 'removed');
    assert.deepEqual(await readdir(hostsDir()), ['ca.crt']);
  });

  it('updates its own block in place when the mirror list changes, still restoring the original', async () => {
    const original = shapes['other hosts and a header table']!;
    await mkdir(hostsDir(), { recursive: true });
    await writeFile(hostsPath(), original);
    await writer.install(registry, { mirrors: [mirror] });
    assert.equal(await writer.install(registry, { mirrors: ['http://127.0.0.1:6060', 'http://10.0.0.5:5050'], resolveTags: false }), 'updated');
    const text = await readFile(hostsPath(), 'utf8');
    assert.equal(text.split('# >>> shoal mirror').length, 2, 'one block');
    assert.ok(text.indexOf('127.0.0.1:6060') < text.indexOf('10.0.0.5:5050'));
    assert.match(text, /\[host\."http:\/\/10\.0\.0\.5:5050"\]\n {2}capabilities = \["pull"\]\n/);
    assert.doesNotMatch(text, /5050"\]\n {2}capabilities = \["pull", "resolve"\]/);
    await writer.restore(registry);
    assert.ok((await readFile(hostsPath())).equals(original));
  });

  it('keeps edits made outside its block while installed', async () => {
    const original = shapes['server only']!;
    await mkdir(hostsDir(), { recursive: true });
    await writeFile(hostsPath(), original);
    await writer.install(registry, { mirrors: [mirror] });
    const edited = `# edited by an admin\n${await readFile(hostsPath(), 'utf8')}[host."https://added.example"]\n  capabilities = ["pull"]\n`;
    await writeFile(hostsPath(), edited);
    assert.equal(await writer.install(registry, { mirrors: [mirror] }), 'unchanged');
    await writer.restore(registry);
    assert.equal(await readFile(hostsPath(), 'utf8'), `# edited by an admin\n${original.toString()}[host."https://added.example"]\n  capabilities = ["pull"]\n`);
  });

  it('treats a file rewritten by someone else while installed as the new original', async () => {
    await mkdir(hostsDir(), { recursive: true });
    await writeFile(hostsPath(), shapes['server only']!);
    await writer.install(registry, { mirrors: [mirror] });
    const replaced = 'server = "https://other.example"\n';
    await writeFile(hostsPath(), replaced);
    assert.equal(await writer.install(registry, { mirrors: [mirror] }), 'updated');
    assert.equal(await readFile(hostsPath() + backupSuffix, 'utf8'), replaced);
    await writer.restore(registry);
    assert.equal(await readFile(hostsPath(), 'utf8'), replaced);
  });

  it('puts the original back if our file was deleted while installed', async () => {
    await mkdir(hostsDir(), { recursive: true });
    await writeFile(hostsPath(), shapes['server only']!);
    await writer.install(registry, { mirrors: [mirror] });
    await rm(hostsPath());
    assert.equal(await writer.restore(registry), 'restored');
    assert.ok((await readFile(hostsPath())).equals(shapes['server only']!));
  });

  it('serializes concurrent installs and restores of one file', async () => {
    const original = shapes['comments everywhere, CRLF']!;
    await mkdir(hostsDir(), { recursive: true });
    await writeFile(hostsPath(), original);
    const results = await Promise.all(Array.from({ length: 10 }, () => writer.install(registry, { mirrors: [mirror] })));
    assert.deepEqual(results.filter((r) => r === 'updated').length, 1);
    const text = await readFile(hostsPath(), 'latin1');
    assert.equal(text.split('# >>> shoal mirror').length, 2);
    await Promise.all([writer.restore(registry), writer.restore(registry)]);
    assert.ok((await readFile(hostsPath())).equals(original));
    assert.deepEqual((await readdir(hostsDir())).sort(), ['hosts.toml'], 'no temp or state files left');
  });

  it('lists the registries it manages', async () => {
    await writer.install('docker.io', { mirrors: [mirror] });
    await writer.install('_default', { mirrors: [mirror] });
    await mkdir(join(dir, 'ghcr.io'), { recursive: true });
    await writeFile(join(dir, 'ghcr.io', 'hosts.toml'), 'server = "https://ghcr.io"\n');
    assert.deepEqual(await writer.managed(), ['_default', 'docker.io']);
    await writer.restore('docker.io');
    assert.deepEqual(await writer.managed(), ['_default']);
  });

  it('refuses bad registries, bad mirror URLs and a second table for the same host', async () => {
    for (const bad of ['../etc', 'a/b', '', '.', 'x y']) await assert.rejects(writer.install(bad, { mirrors: [mirror] }), HostsTomlError, bad);
    for (const bad of ['127.0.0.1:5050', 'http://127.0.0.1:5050/v2', 'http://a"]\nx', 'ftp://x', 'http://x?y']) {
      await assert.rejects(writer.install(registry, { mirrors: [bad] }), HostsTomlError, bad);
    }
    await assert.rejects(writer.install(registry, { mirrors: [] }), HostsTomlError);
    await mkdir(hostsDir(), { recursive: true });
    const taken = `server = "https://x"\n[host.'${mirror}']\n  capabilities = ["pull"]\n`;
    await writeFile(hostsPath(), taken);
    await assert.rejects(writer.install(registry, { mirrors: [mirror] }), /already has a \[host/);
    assert.equal(await readFile(hostsPath(), 'utf8'), taken);
    assert.ok(!existsSync(hostsPath() + backupSuffix));
  });

  it('round-trips withMirror/withoutMirror on any text', () => {
    const samples = ['', 'a', '\n', 'x = 1', 'x = 1\n[t]\n', '[t]', '# c\n[t]\n', 'a = """\n[t]\n', '\r\n[t]\r\n'];
    for (const base of samples) assert.equal(withoutMirror(withMirror(base, '[host."http://h:1"]\n')), base, JSON.stringify(base));
    assert.equal(withoutMirror('server = "x"\n'), undefined);
  });
});
