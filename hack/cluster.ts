// `make up` / `make down`: a local Shoal dev cluster — real etcd + kube-apiserver, the CRDs, the operator,
// a seeded registry on 127.0.0.1:5000 (the samples' `localhost:5000/...` images) and two nodes, each a
// containerd of its own with a node agent (`shoal-node-1`, `shoal-node-2`).
//
//   node hack/cluster.ts up     [--dir .shoal]   start detached (idempotent) and print how to use it
//   node hack/cluster.ts down   [--dir .shoal]   stop everything started by `up`
//   node hack/cluster.ts status [--dir .shoal]   print what runs (exit 1 when nothing does)
//
// `up` starts a background supervisor (`cluster.ts supervise`) that owns every process, logs into the
// dir and shuts them down on SIGTERM; `down` signals it and then sweeps any pid file left behind, the
// containerd shims (and their containers) and the mounts under the dir.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, lstatSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { agentFlags } from '../agents/main.ts';
import { nodeType, type Node } from '../operator/src/api/generated/types.ts';
import { nodeLeaseNamespace } from '../operator/src/controllers/names.ts';
import { isConditionTrue } from '../operator/src/runtime/conditions.ts';
import { loadCredentials } from '../operator/src/runtime/credentials.ts';
import { KubeClient } from '../operator/src/runtime/kube.ts';
import { createLogger, type Logger } from '../operator/src/runtime/log.ts';
import { resourcePath } from '../operator/src/runtime/resource.ts';
import { binaries } from './binaries.ts';
import { shimProcesses, unmountUnder } from './containerd.ts';
import { ControlPlane, ManagedProcess, freePort, installCRDs, tailFile } from './controlplane.ts';
import { hostsToml, startNodeEnv, writeHostsToml, type EnvNode, type NodeEnv } from './env.ts';

export const repoRoot = resolve(import.meta.dirname, '..');

/** The registry's fixed port: config/samples/ name their images `localhost:5000/...`. */
export const registryPort = 5000;
/** How the samples name the registry; every node's hosts.toml maps it to ours over plain HTTP. */
export const registryAlias = `localhost:${registryPort}`;
/** One containerd and one agent each, in this order. */
export const localNodes = ['shoal-node-1', 'shoal-node-2'] as const;
export const localNodeLabels: Record<string, string> = { 'shoal.dev/local': 'true' };
/** How long `up` waits for every agent's Node to be Ready. */
const nodesReadyTimeoutMs = 90_000;

export interface ComponentContext {
  repoRoot: string;
  dir: string;
  /** Admin kubeconfig of the control plane. */
  kubeconfigPath: string;
  /** The containerd instances, in the order of `localNodes`. */
  nodes: readonly EnvNode[];
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

/** The agent of `localNodes[index]`, on the containerd of the same index; its state under `<dir>/agents/<node>`. */
function agentComponent(node: string, index: number): Component {
  return {
    name: `agent-${node}`,
    requires: 'agents/main.ts',
    async command(ctx) {
      const env = ctx.nodes[index];
      if (!env) throw new Error(`no containerd for ${node}`);
      // Two agents share this host: every listener the agent has on a loopback port of its own.
      const listeners: string[] = [];
      for (const flag of Object.keys(agentFlags).filter((f) => f.endsWith('-bind-address'))) listeners.push(`--${flag}=127.0.0.1:${await ctx.freePort()}`);
      return {
        command: process.execPath,
        args: [
          join(ctx.repoRoot, 'bin/shoal.ts'),
          'agent',
          `--node-name=${node}`,
          `--kubeconfig=${ctx.kubeconfigPath}`,
          `--containerd-address=${env.containerd.address}`,
          `--containerd-config-path=${env.certsDir}`,
          `--runc-root=${env.containerd.runcRoot}`,
          `--state-dir=${join(ctx.dir, 'agents', node)}`,
          `--node-labels=${Object.entries(localNodeLabels).map(([k, v]) => `${k}=${v}`).join(',')}`,
          '--heartbeat-interval=10s',
          `--p2p-listen-address=/ip4/127.0.0.1/tcp/${await ctx.freePort()}`,
          ...listeners,
        ],
      };
    },
  };
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
  ...localNodes.map(agentComponent),
];

export interface ComponentState {
  name: string;
  status: 'running' | 'skipped' | 'exited';
  pid?: number;
  log?: string;
  /** Where its pid is kept, when not `<dir>/<name>.pid` (the registry's and containerd's own dirs). */
  pidFile?: string;
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
  /** `http://127.0.0.1:5000` */
  registry?: string;
  images?: string[];
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

/** `path`, or where it points when it is a symlink (a containerd dir too long for its socket lives in /tmp). */
function followLink(path: string): string {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : path;
  } catch {
    return path;
  }
}

/** The registry's and each containerd's own dirs (hack/env.ts layout), which keep their pid files. */
function nodeEnvDirs(dir: string): { registry: string[]; containerd: string[] } {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    // no dir yet
  }
  return {
    registry: entries.filter((e) => e === 'registry').map((e) => join(dir, e)),
    containerd: entries.filter((e) => /^node-\d+$/.test(e)).map((e) => followLink(join(dir, e))),
  };
}

function pidFiles(dir: string): string[] {
  const { registry, containerd } = nodeEnvDirs(dir);
  return [dir, ...registry, ...containerd].flatMap((d) => {
    try {
      return readdirSync(d).filter((f) => f.endsWith('.pid')).map((f) => join(d, f));
    } catch {
      return [];
    }
  });
}

/** `etcd` for `<dir>/etcd.pid`, `registry` and `containerd node-0` for the node env's. */
function pidFileName(file: string, dir: string): string {
  const stem = basename(file, '.pid');
  const parent = basename(dirname(file));
  return dirname(file) === dir || stem === parent ? stem : `${stem} ${parent}`;
}

/**
 * SIGKILLs every process group recorded in a pid file of `dir` that is still ours (a process is ours when its
 * command line names the pid file's dir), then the containerd shims with their containers, and unmounts what
 * they left mounted; removes the pid files.
 */
async function sweep(dir: string): Promise<string[]> {
  const killed: string[] = [];
  for (const file of pidFiles(dir)) {
    const pid = ownedPid(file, dirname(file));
    if (pid !== undefined) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      killed.push(`${pidFileName(file, dir)} (pid ${pid})`);
    }
    rmSync(file, { force: true });
  }
  for (const ctdDir of nodeEnvDirs(dir).containerd) {
    const shims = shimProcesses(join(ctdDir, 'containerd.sock'));
    for (const pid of shims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (shims.length) killed.push(`${shims.length} shim and container processes of ${ctdDir}`);
    if (shims.length) await sleep(200); // let the kernel reap them before unmounting their rootfs
    const unmounted = await unmountUnder(ctdDir);
    if (unmounted.length) killed.push(`${unmounted.length} mounts under ${ctdDir}`);
  }
  return killed;
}

/** Fails, naming the port, when something listens on 127.0.0.1:`port`. */
export async function assertPortFree(port: number, why: string): Promise<void> {
  const server = net.createServer();
  try {
    await new Promise<void>((resolveListen, rejectListen) => {
      server.once('error', rejectListen);
      server.listen(port, '127.0.0.1', resolveListen);
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`port ${port} on 127.0.0.1 is ${code === 'EADDRINUSE' ? 'taken by another process' : `not usable (${code})`}: ${why}. Free it (see \`ss -ltnp 'sport = :${port}'\`) and retry.`);
  } finally {
    await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  }
}

const registryPortReason = `make up serves its registry there, because config/samples/ pull ${registryAlias}/shoal/busybox:1.36`;

/** Polls until the Node CR of every name reports Ready=True; fails on the deadline naming the ones that are not. */
export async function waitNodesReady(kubeconfigPath: string, names: readonly string[], timeoutMs: number, exited: () => string | undefined = () => undefined): Promise<void> {
  const client = new KubeClient(loadCredentials(kubeconfigPath));
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const notReady: string[] = [];
      for (const name of names) {
        const node = await client.request<Node>('GET', resourcePath(nodeType, undefined, name)).catch(() => undefined);
        if (!isConditionTrue(node?.status?.conditions, 'Ready')) notReady.push(name);
      }
      if (notReady.length === 0) return;
      const crashed = exited();
      if (crashed) throw new Error(crashed);
      if (Date.now() > deadline) throw new Error(`node(s) ${notReady.join(', ')} not Ready after ${timeoutMs / 1000} s; see the agent logs`);
      await sleep(250);
    }
  } finally {
    await client.close();
  }
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
  let env: NodeEnv | undefined;
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
      // Stops the shims and their containers too, and unmounts their rootfs; keeps the data and logs.
      await env?.stop().catch((err: unknown) => logger.error('node env stop failed', { error: err }));
      await cp?.stop();
      if (state.phase !== 'failed') state.phase = 'stopped';
      writeState(state);
      rmSync(supervisorPidPath(dir), { force: true });
      process.exit(code);
    })());
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal, 0));

  try {
    const began = performance.now();
    await assertPortFree(registryPort, registryPortReason);
    // The control plane and the node env (registry, seed, containerd ×2) start side by side.
    const [cpStart, envStart] = await Promise.allSettled([
      ControlPlane.start({ dir, logger, binaries: bins, killOnSignals: false }),
      startNodeEnv({ dir, nodes: localNodes.length, registryPort, logger: logger.child({ component: 'node-env' }) }),
    ]);
    if (cpStart.status === 'fulfilled') cp = cpStart.value;
    if (envStart.status === 'fulfilled') env = envStart.value;
    if (cpStart.status === 'rejected') throw cpStart.reason;
    if (envStart.status === 'rejected') throw envStart.reason;
    const controlPlane = cp as ControlPlane;
    const nodeEnv = env as NodeEnv;
    Object.assign(state, { server: controlPlane.server, etcd: controlPlane.etcdUrl, kubeconfig: controlPlane.kubeconfigPath });
    state.registry = nodeEnv.registry.url;
    state.images = Object.keys(nodeEnv.images).map((name) => `${registryAlias}/${name}`);
    state.components.push({ name: 'registry', status: 'running', pid: nodeEnv.registry.pid, log: nodeEnv.registry.logPath, pidFile: join(nodeEnv.registry.dir, 'registry.pid'), detail: nodeEnv.registry.url });
    for (const [i, node] of nodeEnv.nodes.entries()) {
      // hack/env.ts maps the registry's own address (127.0.0.1:5000); the samples say localhost:5000.
      await writeHostsToml(node.certsDir, registryAlias, hostsToml(nodeEnv.registry.host));
      const ctd = node.containerd;
      state.components.push({ name: `containerd-${localNodes[i]}`, status: 'running', pid: ctd.pid, log: ctd.logPath, pidFile: join(ctd.dir, 'containerd.pid'), detail: `${ctd.address}, snapshotter ${ctd.snapshotter}` });
    }
    writeState(state);

    state.crds = await installCRDs(controlPlane, join(repoRoot, 'crds'));
    logger.info('CRDs established', { crds: state.crds });
    // The operator's leader-election Lease lives in shoal-system (its --leader-election-namespace default),
    // the agents' heartbeat Leases in shoal-node-lease.
    const namespaces = ['shoal-system', nodeLeaseNamespace].map((name) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`).join('---\n');
    const ns = await controlPlane.kubectl(['apply', '-f', '-'], { input: namespaces });
    if (ns.code !== 0) throw new Error(`cannot create namespaces: ${ns.stderr}`);

    const ctx: ComponentContext = { repoRoot, dir, kubeconfigPath: controlPlane.kubeconfigPath, nodes: nodeEnv.nodes, freePort };
    for (const component of components) {
      if (!existsSync(join(repoRoot, component.requires))) {
        state.components.push({ name: component.name, status: 'skipped', detail: `${component.requires} does not exist yet` });
        continue;
      }
      const { command, args, env: extraEnv } = await component.command(ctx);
      const log = join(dir, `${component.name}.log`);
      const proc = await ManagedProcess.spawn(component.name, command, args, log, join(dir, `${component.name}.pid`), { env: extraEnv ?? {}, cwd: repoRoot });
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
    writeState(state);
    // Ready once every agent's Node is; an agent that dies meanwhile fails `up` with its log.
    const agents = state.components.filter((c) => c.name.startsWith('agent-') && c.status !== 'skipped');
    if (agents.length > 0) {
      await waitNodesReady(controlPlane.kubeconfigPath, localNodes, nodesReadyTimeoutMs, () => {
        const dead = agents.find((c) => c.status === 'exited');
        return dead && `${dead.name} ${dead.detail}:\n${tailFile(dead.log ?? '', 15)}`;
      });
    } else if (running.size > 0) {
      await sleep(1500); // so that an immediate crash shows up in `up`'s report
    }
    state.phase = 'ready';
    state.startMs = Math.round(performance.now() - began);
    writeState(state);
    logger.info('cluster ready', { server: controlPlane.server, registry: nodeEnv.registry.url, nodes: localNodes, ms: state.startMs });
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
  const logs = state.components.flatMap((c) => (c.log ? [relative(state.dir, c.log)] : []));
  out(`Shoal dev cluster is up: kube-apiserver v${state.k8sVersion} at ${state.server}, etcd v${state.etcdVersion} at ${state.etcd}`);
  out(`  state and logs: ${rel(state.dir)}/ (supervisor.log, etcd.log, kube-apiserver.log${logs.length ? `, ${logs.join(', ')}` : ''})`);
  out(`  CRDs: ${state.crds.length ? state.crds.join(', ') : 'none (crds/ has no YAML yet)'}`);
  if (state.registry) out(`  registry ${state.registry} (as ${registryAlias}): ${(state.images ?? []).join(', ')}`);
  for (const c of state.components) {
    out(`  ${c.name}: ${c.status}${c.pid ? ` (pid ${c.pid})` : ''}${c.detail ? ` — ${c.detail}` : ''}`);
  }
  out('');
  out('Try:');
  out(`  export KUBECONFIG=${state.kubeconfig} PATH=${kubectlDir}:$PATH`);
  // config/samples/ carries a Kustomization (not kustomization.yaml), so `apply -f` takes only the objects.
  out('  kubectl apply -f config/samples/   # the Workload "hello" runs busybox from the local registry');
  out('  kubectl get wl -w                  # hello: Scheduled → Running → Succeeded');
  out(`  kubectl get snode                  # ${localNodes.join(' and ')} Ready (the sample's worker-1 has no agent)`);
  out('  kubectl shoal ps                   # Workloads with their nodes and containers (the kubectl plugin)');
  out('  kubectl get shoal');
  out('  make down                          # stops everything make up started');
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

/** Entries of the state dir that `up` owns and resets before a fresh start (after `sweep` unmounted them). */
function resetDir(dir: string): void {
  for (const entry of readdirSync(dir)) {
    if (/^(etcd|certs|kubecache|registry|agents|node-\d+)$|^kubeconfig|\.(log|pid|csv|json|tmp)$|^sa\.(key|pub)$/.test(entry)) {
      const path = join(dir, entry);
      const target = followLink(path);
      if (target !== path) rmSync(target, { recursive: true, force: true }); // a containerd dir in /tmp
      rmSync(path, { recursive: true, force: true });
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
  const leftovers = await sweep(dir);
  if (leftovers.length) logger.warn('killed leftovers of a previous run', { processes: leftovers });
  resetDir(dir);
  await assertPortFree(registryPort, registryPortReason);
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
  const killed = await sweep(dir);
  if (killed.length) logger.warn('killed processes the supervisor left behind', { processes: killed });
  const state = readState(dir);
  if (state && state.phase !== 'stopped' && state.phase !== 'failed') writeState({ ...state, phase: 'stopped' });
}

/** Prints what runs; returns true if the supervisor is alive. */
export function status(dir: string, out: (line: string) => void = console.log): boolean {
  const state = readState(dir);
  const files = pidFiles(dir);
  const supervisor = ownedPid(supervisorPidPath(dir), dir);
  if (supervisor === undefined && files.every((f) => ownedPid(f, dirname(f)) === undefined)) {
    out(`Shoal dev cluster is not running (dir ${dir}${state ? `, last phase ${state.phase}` : ''}).`);
    return false;
  }
  out(`Shoal dev cluster: ${state?.phase ?? 'unknown'}${state?.server ? ` at ${state.server}` : ''}${state?.kubeconfig ? `, KUBECONFIG=${state.kubeconfig}` : ''}`);
  const names = new Map((state?.components ?? []).map((c) => [c.pidFile ?? join(dir, `${c.name}.pid`), c.name]));
  for (const file of files) {
    const name = names.get(file) ?? pidFileName(file, dir);
    const pid = ownedPid(file, dirname(file));
    out(`  ${name.padEnd(26)} ${pid !== undefined ? `running (pid ${pid})` : 'not running'}`);
  }
  for (const c of state?.components ?? []) if (c.status !== 'running') out(`  ${c.name.padEnd(26)} ${c.status}${c.detail ? ` — ${c.detail}` : ''}`);
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
