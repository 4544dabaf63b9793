// `make up` / `make down`: a local Shoal dev cluster (real etcd + kube-apiserver, the CRDs, the operator).
//
//   node hack/cluster.ts up     [--dir .shoal]   start detached (idempotent) and print how to use it
//   node hack/cluster.ts down   [--dir .shoal]   stop everything started by `up`
//   node hack/cluster.ts status [--dir .shoal]   print what runs (exit 1 when nothing does)
//
// `up` starts a background supervisor (`cluster.ts supervise`) that owns every process, logs into the
// dir and shuts them down on SIGTERM; `down` signals it and then sweeps any pid file left behind.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from '../operator/src/runtime/log.ts';
import { binaries } from './binaries.ts';
import { ControlPlane, ManagedProcess, freePort, installCRDs, tailFile } from './controlplane.ts';

export const repoRoot = resolve(import.meta.dirname, '..');

export interface ComponentContext {
  repoRoot: string;
  dir: string;
  /** Admin kubeconfig of the control plane. */
  kubeconfigPath: string;
  freePort(): Promise<number>;
}

export interface ComponentCommand {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

/** A process `up` runs against the control plane, logging to `<dir>/<name>.log`. */
export interface Component {
  name: string;
  /** Path relative to the repo root; the component is skipped while it does not exist. */
  requires: string;
  command(ctx: ComponentContext): Promise<ComponentCommand>;
}

export const components: Component[] = [
  {
    name: 'operator',
    requires: 'bin/shoal.ts',
    async command(ctx) {
      return {
        command: process.execPath,
        args: [
          join(ctx.repoRoot, 'bin/shoal.ts'),
          'operator',
          '--kubeconfig',
          ctx.kubeconfigPath,
          '--leader-elect=true',
          `--metrics-bind-address=127.0.0.1:${await ctx.freePort()}`,
          `--health-probe-bind-address=127.0.0.1:${await ctx.freePort()}`,
        ],
      };
    },
  },
];

export interface ComponentState {
  name: string;
  status: 'running' | 'skipped' | 'exited';
  pid?: number;
  log?: string;
  args?: string[];
  detail?: string;
}

export interface ClusterState {
  phase: 'starting' | 'ready' | 'failed' | 'stopping' | 'stopped';
  dir: string;
  supervisorPid: number;
  k8sVersion: string;
  etcdVersion: string;
  server?: string;
  etcd?: string;
  kubeconfig?: string;
  crds: string[];
  components: ComponentState[];
  startMs?: number;
  error?: string;
  updatedAt: string;
}

const statePath = (dir: string): string => join(dir, 'state.json');
const supervisorPidPath = (dir: string): string => join(dir, 'supervisor.pid');

function readState(dir: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(dir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

function writeState(state: ClusterState): void {
  state.updatedAt = new Date().toISOString();
  const tmp = `${statePath(state.dir)}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, statePath(state.dir));
}

/** The pid in `pidFile` if that process is alive and (where /proc exists) has `dir` on its command line. */
function ownedPid(pidFile: string, dir: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  if (existsSync('/proc/self/cmdline')) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes(dir)) return undefined; // pid reused by something else
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').match(/\) (\S)/)?.[1] === 'Z') return undefined; // zombie
    } catch {
      return undefined;
    }
  }
  return pid;
}

function pidFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.pid')).map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/** SIGKILLs every process group recorded in a pid file of `dir` that is still ours; removes the pid files. */
function sweep(dir: string): string[] {
  const killed: string[] = [];
  for (const file of pidFiles(dir)) {
    const pid = ownedPid(file, dir);
    if (pid !== undefined) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      killed.push(`${file.slice(dir.length + 1, -4)} (pid ${pid})`);
    }
    rmSync(file, { force: true });
  }
  return killed;
}

// ---------------------------------------------------------------------------------------------
// Supervisor: runs in the background, owns the control plane and the components.

async function supervise(dir: string): Promise<void> {
  const logger = createLogger({ component: 'supervisor' });
  const bins = binaries();
  writeFileSync(supervisorPidPath(dir), `${process.pid}\n`);
  const state: ClusterState = {
    phase: 'starting',
    dir,
    supervisorPid: process.pid,
    k8sVersion: bins.k8sVersion,
    etcdVersion: bins.etcdVersion,
    crds: [],
    components: [],
    updatedAt: '',
  };
  writeState(state);

  let cp: ControlPlane | undefined;
  const running = new Map<string, ManagedProcess>();
  let shuttingDown: Promise<void> | undefined;
  const shutdown = (reason: string, code: number): Promise<void> =>
    (shuttingDown ??= (async () => {
      logger.info('shutting down', { reason });
      if (state.phase !== 'failed') state.phase = 'stopping';
      writeState(state);
      for (const [name, proc] of [...running].reverse()) {
        await proc.stop();
        logger.info('component stopped', { name, exit: proc.describeExit() });
      }
      await cp?.stop();
      if (state.phase !== 'failed') state.phase = 'stopped';
      writeState(state);
      rmSync(supervisorPidPath(dir), { force: true });
      process.exit(code);
    })());
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal, 0));

  try {
    const began = performance.now();
    cp = await ControlPlane.start({ dir, logger, binaries: bins, killOnSignals: false });
    Object.assign(state, { server: cp.server, etcd: cp.etcdUrl, kubeconfig: cp.kubeconfigPath });
    writeState(state);

    state.crds = await installCRDs(cp, join(repoRoot, 'crds'));
    logger.info('CRDs established', { crds: state.crds });
    // The operator's leader-election Lease lives in shoal-system (its --leader-election-namespace default).
    const ns = await cp.kubectl(['apply', '-f', '-'], { input: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shoal-system\n' });
    if (ns.code !== 0) throw new Error(`cannot create namespace shoal-system: ${ns.stderr}`);

    const ctx: ComponentContext = { repoRoot, dir, kubeconfigPath: cp.kubeconfigPath, freePort };
    for (const component of components) {
      if (!existsSync(join(repoRoot, component.requires))) {
        state.components.push({ name: component.name, status: 'skipped', detail: `${component.requires} does not exist yet` });
        continue;
      }
      const { command, args, env } = await component.command(ctx);
      const log = join(dir, `${component.name}.log`);
      const proc = await ManagedProcess.spawn(component.name, command, args, log, join(dir, `${component.name}.pid`), { env: env ?? {}, cwd: repoRoot });
      running.set(component.name, proc);
      const entry: ComponentState = { name: component.name, status: 'running', pid: proc.pid, log, args };
      state.components.push(entry);
      void proc.exited.then(async () => {
        if (shuttingDown) return;
        await proc.stop(); // reaps stragglers in its group, removes the pid file
        entry.status = 'exited';
        entry.detail = `${proc.describeExit()}; see ${log}`;
        logger.warn('component exited', { name: component.name, exit: proc.describeExit(), tail: tailFile(log, 10) });
        writeState(state);
      });
    }
    // Give components a moment so that an immediate crash shows up in `up`'s report.
    if (running.size > 0) await sleep(1500);
    state.phase = 'ready';
    state.startMs = Math.round(performance.now() - began);
    writeState(state);
    logger.info('cluster ready', { server: cp.server, ms: state.startMs });
  } catch (err) {
    state.phase = 'failed';
    state.error = err instanceof Error ? err.message : String(err);
    logger.error('start failed', { error: err });
    await shutdown('start failed', 1);
  }
  // The children are unref'd; keep the supervisor alive until a signal arrives.
  setInterval(() => {}, 1 << 30);
}

// ---------------------------------------------------------------------------------------------
// CLI.

function printInfo(state: ClusterState, out: (line: string) => void = console.log): void {
  const rel = (p: string): string => (relative(process.cwd(), p).startsWith('..') ? p : relative(process.cwd(), p) || '.');
  const kubectlDir = binaries().kubectl.replace(/\/kubectl$/, '');
  out(`Shoal dev cluster is up: kube-apiserver v${state.k8sVersion} at ${state.server}, etcd v${state.etcdVersion} at ${state.etcd}`);
  out(`  state and logs: ${rel(state.dir)}/ (supervisor.log, etcd.log, kube-apiserver.log${state.components.some((c) => c.log) ? ', ' + state.components.filter((c) => c.log).map((c) => `${c.name}.log`).join(', ') : ''})`);
  out(`  CRDs: ${state.crds.length ? state.crds.join(', ') : 'none (crds/ has no YAML yet)'}`);
  for (const c of state.components) {
    out(`  ${c.name}: ${c.status}${c.pid ? ` (pid ${c.pid})` : ''}${c.detail ? ` — ${c.detail}` : ''}`);
  }
  out('');
  out('Try:');
  out(`  export KUBECONFIG=${state.kubeconfig} PATH=${kubectlDir}:$PATH`);
  out('  kubectl get shoal');
  // config/samples/ carries a kustomization.yaml, which `apply -f` would try (and fail) to apply.
  out('  kubectl apply -f config/samples/');
  out('  kubectl get workloads');
  out('  kubectl explain workload.spec');
  out('Stop it with `make down`.');
}

async function waitForSupervisor(dir: string, pid: number, timeoutMs: number): Promise<ClusterState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = readState(dir);
    if (state?.supervisorPid === pid && (state.phase === 'ready' || state.phase === 'failed')) return state;
    if (ownedPid(supervisorPidPath(dir), dir) !== pid) {
      throw new Error(`the supervisor exited before the cluster was ready${state?.error ? `: ${state.error}` : ''}\n${tailFile(join(dir, 'supervisor.log'), 20)}`);
    }
    if (Date.now() > deadline) throw new Error(`cluster not ready after ${timeoutMs / 1000} s; see ${join(dir, 'supervisor.log')}`);
    await sleep(200);
  }
}

/** Entries of the state dir that `up` owns and resets before a fresh start. */
function resetDir(dir: string): void {
  for (const entry of readdirSync(dir)) {
    if (/^(etcd|certs|kubecache)$|^kubeconfig|\.(log|pid|csv|json|tmp)$|^sa\.(key|pub)$/.test(entry)) {
      rmSync(join(dir, entry), { recursive: true, force: true });
    }
  }
}

export async function up(dir: string, logger: Logger): Promise<ClusterState> {
  const pid = ownedPid(supervisorPidPath(dir), dir);
  if (pid !== undefined) {
    const state = await waitForSupervisor(dir, pid, 180_000);
    if (state.phase === 'failed') throw new Error(`the running cluster failed to start: ${state.error}; run \`make down\``);
    return state;
  }
  binaries(); // fail fast with the `make tools` hint
  await mkdir(dir, { recursive: true });
  const leftovers = sweep(dir);
  if (leftovers.length) logger.warn('killed leftovers of a previous run', { processes: leftovers });
  resetDir(dir);
  const began = performance.now();
  const fd = openSync(join(dir, 'supervisor.log'), 'a');
  let child;
  try {
    child = spawn(process.execPath, [import.meta.filename, 'supervise', '--dir', dir], {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: repoRoot,
    });
  } finally {
    closeSync(fd);
  }
  child.unref();
  if (child.pid === undefined) throw new Error('could not start the supervisor');
  // The supervisor writes its pid file first thing; wait for it so ownedPid() can track it.
  const pidDeadline = Date.now() + 10_000;
  while (ownedPid(supervisorPidPath(dir), dir) !== child.pid) {
    if (child.exitCode !== null || Date.now() > pidDeadline) {
      throw new Error(`the supervisor did not start:\n${tailFile(join(dir, 'supervisor.log'), 20)}`);
    }
    await sleep(50);
  }
  const state = await waitForSupervisor(dir, child.pid, 180_000);
  if (state.phase === 'failed') {
    await down(dir, logger);
    throw new Error(`cluster failed to start: ${state.error}`);
  }
  logger.info('cluster started', { dir, ms: Math.round(performance.now() - began) });
  return state;
}

export async function down(dir: string, logger: Logger): Promise<void> {
  const pid = ownedPid(supervisorPidPath(dir), dir);
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 45_000;
    while (ownedPid(supervisorPidPath(dir), dir) === pid && Date.now() < deadline) await sleep(100);
  }
  const killed = sweep(dir);
  if (killed.length) logger.warn('killed processes the supervisor left behind', { processes: killed });
  const state = readState(dir);
  if (state && state.phase !== 'stopped' && state.phase !== 'failed') writeState({ ...state, phase: 'stopped' });
}

/** Prints what runs; returns true if the supervisor is alive. */
export function status(dir: string, out: (line: string) => void = console.log): boolean {
  const state = readState(dir);
  const files = pidFiles(dir);
  const supervisor = ownedPid(supervisorPidPath(dir), dir);
  if (supervisor === undefined && files.every((f) => ownedPid(f, dir) === undefined)) {
    out(`Shoal dev cluster is not running (dir ${dir}${state ? `, last phase ${state.phase}` : ''}).`);
    return false;
  }
  out(`Shoal dev cluster: ${state?.phase ?? 'unknown'}${state?.server ? ` at ${state.server}` : ''}${state?.kubeconfig ? `, KUBECONFIG=${state.kubeconfig}` : ''}`);
  for (const file of files) {
    const name = file.slice(dir.length + 1, -4);
    const pid = ownedPid(file, dir);
    out(`  ${name.padEnd(24)} ${pid !== undefined ? `running (pid ${pid})` : 'not running'}`);
  }
  for (const c of state?.components ?? []) if (c.status !== 'running') out(`  ${c.name.padEnd(24)} ${c.status}${c.detail ? ` — ${c.detail}` : ''}`);
  return supervisor !== undefined;
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { dir: { type: 'string' } } });
  const command = positionals[0];
  const dir = values.dir ? resolve(values.dir) : join(repoRoot, '.shoal');
  const logger = createLogger({ component: 'cluster' });
  switch (command) {
    case 'up':
      printInfo(await up(dir, logger));
      return 0;
    case 'down':
      await down(dir, logger);
      console.log(`Shoal dev cluster stopped (state kept in ${dir}).`);
      return 0;
    case 'status':
      return status(dir) ? 0 : 1;
    case 'supervise':
      await supervise(dir);
      return -1; // keeps running
    default:
      console.error('usage: node hack/cluster.ts up|down|status [--dir .shoal]');
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    },
  );
}
