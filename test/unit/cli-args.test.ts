import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { UsageError } from '../../operator/src/cli/command.ts';
import { main, parseCommandLine } from '../../operator/src/cli/main.ts';
import { age, formatTable } from '../../operator/src/cli/table.ts';

/** The parsed command: name, globals and typed arguments (help is a separate case). */
function parsed(argv: string[]): { command: string; globals: unknown; args: unknown } {
  const result = parseCommandLine(argv);
  assert.ok(!('help' in result), `expected a command, got help for ${argv.join(' ')}`);
  return { command: result.command, globals: result.globals, args: result.args };
}

const usage = (argv: string[], message: RegExp): void => {
  assert.throws(() => parseCommandLine(argv), (err: unknown) => err instanceof UsageError && message.test(err.message), `${argv.join(' ')} should be a usage error matching ${message}`);
};

describe('kubectl-shoal command line', () => {
  describe('global flags', () => {
    it('are accepted before and after the command, in both spellings', () => {
      assert.deepEqual(parsed(['-n', 'team', 'ps']).globals, { namespace: 'team', allNamespaces: false });
      assert.deepEqual(parsed(['ps', '--namespace=team', '--context', 'c1', '--kubeconfig', '/k']).globals, { namespace: 'team', context: 'c1', kubeconfig: '/k', allNamespaces: false });
      assert.deepEqual(parsed(['ps', '-A']).globals, { allNamespaces: true });
      assert.deepEqual(parsed(['--all-namespaces', 'ps']).globals, { allNamespaces: true });
    });
    it('give help for the plugin and for each command, and reject what they do not know', () => {
      const top = parseCommandLine(['--help']);
      assert.ok('help' in top && /Commands:[\s\S]*run[\s\S]*cordon/.test(top.help));
      for (const command of ['run', 'ps', 'nodes', 'logs', 'cordon', 'uncordon']) {
        const help = parseCommandLine([command, '-h']);
        assert.ok('help' in help && help.help.includes(`kubectl shoal ${command}`), command);
      }
      usage([], /no command/);
      usage(['frobnicate'], /unknown command "frobnicate"/);
      usage(['ps', '--bogus'], /bogus/);
      usage(['ps', '-n', ''], /namespace must not be empty/);
      usage(['ps', '--namespace'], /namespace/);
    });
  });

  describe('run', () => {
    it('parses name, image, policy, requests, env and the command after --', () => {
      assert.deepEqual(
        parsed(['run', 'hello', '--image', 'reg/busybox:1.36', '--restart', 'Never', '--cpu', '250m', '--memory=64Mi', '--env', 'A=1', '--env', 'B=x=y', '--', 'sh', '-c', 'echo hi --not-a-flag']).args,
        { name: 'hello', image: 'reg/busybox:1.36', restartPolicy: 'Never', cpu: '250m', memory: '64Mi', env: [{ name: 'A', value: '1' }, { name: 'B', value: 'x=y' }], command: ['sh', '-c', 'echo hi --not-a-flag'] },
      );
      assert.deepEqual(parsed(['run', 'web', '--image=nginx']).args, { name: 'web', image: 'nginx', env: [], command: [] });
      assert.deepEqual(parsed(['run', 'e', '--image=i', '--env', 'EMPTY=']).args, { name: 'e', image: 'i', env: [{ name: 'EMPTY', value: '' }], command: [] });
    });
    it('rejects a missing name or image, bad policies, quantities and env pairs', () => {
      usage(['run', '--image', 'x'], /needs NAME/);
      usage(['run', 'a'], /needs --image/);
      usage(['run', 'a', 'b', '--image', 'x'], /unexpected argument "b".*after --/);
      usage(['run', 'a', '--image', 'x', '--restart', 'Sometimes'], /--restart must be one of Always, OnFailure, Never/);
      usage(['run', 'a', '--image', 'x', '--cpu', 'lots'], /--cpu: invalid quantity "lots"/);
      usage(['run', 'a', '--image', 'x', '--memory', '-1Gi'], /--memory/);
      usage(['run', 'a', '--image', 'x', '--env', 'NOVALUE'], /NAME=VALUE/);
      usage(['run', 'a', '--image', 'x', '--env', '1BAD NAME=v'], /NAME=VALUE/);
      usage(['run', 'a', '--image', 'x', '--env', 'A=1', '--env', 'A=2'], /A given more than once/);
      usage(['run', 'a', '--image', 'x', '--'], /nothing after --/);
      usage(['run', 'a', '--image', 'x', '-A'], /does not take -A/);
    });
  });

  describe('ps and nodes', () => {
    it('take no arguments', () => {
      assert.deepEqual(parsed(['ps']).args, {});
      assert.deepEqual(parsed(['nodes']).args, {});
      usage(['ps', 'extra'], /unexpected argument "extra"/);
      usage(['nodes', 'n1'], /unexpected argument "n1"/);
      usage(['ps', '--', 'x'], /no arguments after --/);
    });
  });

  describe('logs', () => {
    it('parses follow, tail, previous and limit-bytes; --tail -1 means everything', () => {
      assert.deepEqual(parsed(['logs', 'hello']).args, { workload: 'hello', follow: false, previous: false });
      assert.deepEqual(parsed(['logs', '-f', 'hello', '--tail', '2', '-p', '--limit-bytes=100']).args, { workload: 'hello', follow: true, previous: true, tailLines: 2, limitBytes: 100 });
      assert.deepEqual(parsed(['logs', 'hello', '--follow', '--previous', '--tail=0']).args, { workload: 'hello', follow: true, previous: true, tailLines: 0 });
      assert.deepEqual(parsed(['logs', 'hello', '--tail', '-1']).args, { workload: 'hello', follow: false, previous: false });
      assert.deepEqual(parsed(['logs', 'hello', '--tail=-1']).args, { workload: 'hello', follow: false, previous: false });
    });
    it('rejects a missing or extra workload and bad numbers', () => {
      usage(['logs'], /needs WORKLOAD/);
      usage(['logs', 'a', 'b'], /unexpected argument "b"/);
      usage(['logs', 'a', '--tail', 'abc'], /--tail must be an integer ≥ -1, got "abc"/);
      usage(['logs', 'a', '--tail', '-2'], /--tail must be an integer ≥ -1/);
      usage(['logs', 'a', '--tail', '1.5'], /--tail/);
      usage(['logs', 'a', '--limit-bytes', '0'], /--limit-bytes must be an integer ≥ 1/);
      usage(['logs', 'a', '--follow=yes'], /follow/);
      usage(['logs', 'a', '-A'], /does not take -A/);
    });
  });

  describe('cordon and uncordon', () => {
    it('take exactly one node', () => {
      assert.deepEqual(parsed(['cordon', 'n1']).args, { node: 'n1' });
      assert.deepEqual(parsed(['uncordon', 'n1']).args, { node: 'n1' });
      usage(['cordon'], /needs NODE/);
      usage(['uncordon', 'a', 'b'], /unexpected argument "b"/);
      usage(['cordon', 'n1', '--image', 'x'], /image/);
    });
  });

  describe('exit codes', () => {
    async function exit(argv: string[]): Promise<{ code: number; out: string; err: string }> {
      const out = new PassThrough();
      const err = new PassThrough();
      const chunks = { out: '', err: '' };
      out.on('data', (c: Buffer) => (chunks.out += c.toString()));
      err.on('data', (c: Buffer) => (chunks.err += c.toString()));
      const code = await main(argv, { out, err });
      return { code, ...chunks };
    }
    it('are 0 for help, 2 for usage mistakes (with a pointer to --help), 1 for errors', async () => {
      assert.equal((await exit(['--help'])).code, 0);
      const bad = await exit(['logs', 'a', '--tail', 'x']);
      assert.equal(bad.code, 2);
      assert.match(bad.err, /^error: --tail must be an integer[^\n]*\nSee 'kubectl shoal logs --help' for usage\.\n$/);
      const missing = await exit(['ps', '--kubeconfig', '/nonexistent/kubeconfig']);
      assert.equal(missing.code, 1);
      assert.match(missing.err, /^error: .*nonexistent/);
    });
  });
});

describe('kubectl-style tables', () => {
  it('pads columns to the widest cell plus three spaces', () => {
    assert.equal(formatTable(['NAME', 'AGE'], [['hello', '5s'], ['a', '10m']]), 'NAME    AGE\nhello   5s\na       10m\n');
  });
  it('prints ages as kubectl does', () => {
    const now = Date.parse('2026-01-10T00:00:00Z');
    const ago = (seconds: number): string => age(new Date(now - seconds * 1000), now);
    assert.equal(ago(0), '0s');
    assert.equal(ago(119), '119s');
    assert.equal(ago(150), '2m30s');
    assert.equal(ago(600), '10m');
    assert.equal(ago(3 * 3600 + 60), '3h1m');
    assert.equal(ago(30 * 3600), '30h');
    assert.equal(ago(3 * 86400 + 3600), '3d1h');
    assert.equal(ago(400 * 86400), '400d');
    assert.equal(ago(3 * 365 * 86400 + 86400), '3y1d');
    assert.equal(age(undefined, now), '<unknown>');
  });
});
