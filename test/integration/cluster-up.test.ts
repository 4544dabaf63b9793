// `make up` end to end: `node hack/cluster.ts up --dir <tmp>` starts the whole local cluster (control plane,
// operator, registry on 127.0.0.1:5000, two containerd + agent nodes); the sample Workload from
// config/samples/ runs to Succeeded; `down` leaves no process and no mount behind.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaries } from '../../hack/binaries.ts';
import { assertPortFree, localNodes, registryPort } from '../../hack/cluster.ts';
import { mountsUnder } from '../../hack/containerd.ts';
import { repoRoot, waitFor } from './fixture.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: Record<string, string> = {}, timeoutMs = 240_000): Promise<Run> {
  return new Promise((resolveRun) => {
    execFile(command, args, { cwd: repoRoot, env: { ...process.env, ...env }, timeout: timeoutMs, encoding: 'utf8', maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      resolveRun({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Pids of live (non-zombie) processes whose command line mentions `dir`. */
function processesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)) {
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').match(/\) (\S)/)?.[1];
      if (cmdline.includes(dir) && state !== 'Z') found.push(`${entry} ${cmdline.trim()}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

describe('make up: the local cluster', function () {
  this.timeout(300_000);
  let dir = '';
  let kubeconfig = '';
  const cluster = (command: 'up' | 'down' | 'status'): Promise<Run> => run(process.execPath, [join(repoRoot, 'hack/cluster.ts'), command, '--dir', dir]);
  const kubectl = (...args: string[]): Promise<Run> => run(binaries().kubectl, args, { KUBECONFIG: kubeconfig, KUBECACHEDIR: join(dir, 'kubecache') }, 60_000);

  before(async function () {
    try {
      await assertPortFree(registryPort, 'the local cluster serves its registry there');
    } catch (err) {
      console.log(`    skipped: ${(err as Error).message}`);
      this.skip();
    }
    dir = await mkdtemp(join(tmpdir(), 'shoal-up-'));
    kubeconfig = join(dir, 'kubeconfig');
  });

  after(async () => {
    if (!dir) return;
    await cluster('down');
    await rm(dir, { recursive: true, force: true });
  });

  it('starts everything, prints what to try, and is idempotent', async () => {
    const up = await cluster('up');
    assert.equal(up.code, 0, `up failed:\n${up.stderr}\n${up.stdout}`);
    for (const line of [`export KUBECONFIG=${kubeconfig}`, 'kubectl apply -f config/samples/', 'kubectl get wl -w', 'kubectl get snode', 'kubectl shoal ps', 'make down']) {
      assert.ok(up.stdout.includes(line), `up's output lacks ${JSON.stringify(line)}:\n${up.stdout}`);
    }
    assert.match(up.stdout, /registry http:\/\/127\.0\.0\.1:5000 \(as localhost:5000\)/);
    const again = await cluster('up');
    assert.equal(again.code, 0, again.stderr);
    assert.ok(again.stdout.includes(`export KUBECONFIG=${kubeconfig}`));
    const status = await cluster('status');
    assert.equal(status.code, 0);
    for (const name of ['operator', 'registry', 'etcd', 'kube-apiserver', ...localNodes.flatMap((n) => [`agent-${n}`, `containerd-${n}`])]) {
      assert.match(status.stdout, new RegExp(`^  ${name} +running \\(pid \\d+\\)$`, 'm'), `status:\n${status.stdout}`);
    }
  });

  it('shows both nodes Ready and runs the sample Workload to Succeeded', async () => {
    const nodes = await kubectl('get', 'snode', ...localNodes, '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}');
    assert.equal(nodes.code, 0, nodes.stderr);
    assert.deepEqual(nodes.stdout.trim().split('\n').sort(), localNodes.map((n) => `${n}=True`));
    const apply = await kubectl('apply', '-f', 'config/samples/');
    assert.equal(apply.code, 0, apply.stderr);
    assert.match(apply.stdout, /workload\.shoal\.dev\/hello (created|configured|unchanged)/);
    const phase = await waitFor(async () => {
      const wl = await kubectl('get', 'wl', 'hello', '-n', 'default', '-o', 'jsonpath={.status.phase} {.status.nodeName} {.status.exitCode}');
      return /^(Succeeded|Failed) /.test(wl.stdout) && wl.stdout;
    }, { what: 'the sample Workload to finish', timeoutMs: 60_000, intervalMs: 500 });
    assert.match(phase, new RegExp(`^Succeeded (${localNodes.join('|')}) 0$`));
    // The sample MirrorPolicy: both agents mirror the local registry and preheat busybox (the sample's worker-1,
    // a Node with no agent, is selected too and stays Pending).
    const preheated = await waitFor(async () => {
      const mp = await kubectl('get', 'mp', 'default', '-o', 'jsonpath={.status.nodesReady} {range .status.preheat[*]}{.node}={.phase} {end}');
      return localNodes.every((n) => mp.stdout.includes(`${n}=Completed`)) && mp.stdout;
    }, { what: 'the sample MirrorPolicy preheated on both agents', timeoutMs: 60_000, intervalMs: 500 });
    assert.match(preheated, /^2 /, 'both agents serve the mirror');
  });

  it('down stops every process and leaves no mount', async () => {
    const down = await cluster('down');
    assert.equal(down.code, 0, down.stderr);
    await waitFor(() => processesUnder(dir).length === 0, { what: `no process under ${dir} (left: ${processesUnder(dir).join('; ')})`, timeoutMs: 10_000 });
    assert.deepEqual(mountsUnder(dir), []);
    const status = await cluster('status');
    assert.equal(status.code, 1);
    assert.match(status.stdout, /not running/);
  });
});
