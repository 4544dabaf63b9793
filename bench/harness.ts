// What the benchmarks share: a real control plane in a temp dir of its own (hack/controlplane.ts) with the CRDs,
// a real node (hack/env.ts containerd + registry, the real operator and agent processes), percentiles, a bounded
// request pool, watch timestamps from the operator's own Informer, and the JSON summary each bench prints.
// Benchmarks are not tests: `make bench` runs them, `make test` does not. Logs go to stderr, the summary to stdout.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitNodesReady } from '../hack/cluster.ts';
import { ControlPlane, installCRDs } from '../hack/controlplane.ts';
import { startNodeEnv, type NodeEnv } from '../hack/env.ts';
import type { Workload } from '../operator/src/api/generated/types.ts';
import { workloadType } from '../operator/src/api/generated/types.ts';
import { nodeLeaseNamespace } from '../operator/src/controllers/names.ts';
import { findCondition } from '../operator/src/runtime/conditions.ts';
import { loadCredentials } from '../operator/src/runtime/credentials.ts';
import { Informer } from '../operator/src/runtime/informer.ts';
import { KubeClient, isAlreadyExists, type KubeApiError } from '../operator/src/runtime/kube.ts';
import { createLogger, type Logger } from '../operator/src/runtime/log.ts';
import { coreTypes, objectKey, resourcePath } from '../operator/src/runtime/resource.ts';
import { startAgent, startOperator, type AgentOptions, type ShoalProcess } from '../test/integration/support/shoal-process.ts';

export const repoRoot = join(import.meta.dirname, '..');
export const logger = createLogger({ component: 'bench' });

// ---------------------------------------------------------------------------------------------
// Numbers.

/** Nearest-rank percentile (`p` in 0..100) of unsorted values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export interface Distribution {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Percentiles of millisecond samples, rounded to 0.1 ms. */
export function distribution(values: readonly number[]): Distribution {
  const round = (n: number): number => Math.round(n * 10) / 10;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  return {
    count: values.length,
    p50: round(percentile(values, 50)),
    p90: round(percentile(values, 90)),
    p99: round(percentile(values, 99)),
    max: round(Math.max(...values)),
    mean: round(mean),
  };
}

export const ratio = (value: number, baseline: number): number => Math.round((value / baseline) * 100) / 100;

/** Runs `fn(0..count-1)` with at most `concurrency` in flight; rejects on the first failure. */
export async function pool(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

// ---------------------------------------------------------------------------------------------
// Processes, from /proc.

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const clockTicks = 100;

/** CPU seconds (user + system) in a /proc stat line, and the task's name. */
function statCpu(path: string): { name: string; seconds: number } {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), seconds: (Number(fields[11]) + Number(fields[12])) / clockTicks }; // utime, stime (fields 14, 15)
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  return statCpu(`/proc/${pid}/stat`).seconds;
}

/** CPU seconds so far per thread name of a process (`node` is the JS thread; V8 and libuv helpers have their own names). */
export function cpuSecondsByThread(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const { name, seconds } = statCpu(`/proc/${pid}/task/${tid}/stat`);
      out[name] = (out[name] ?? 0) + seconds;
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Resident set size in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb ?? 0) * 1024;
}

/** CPU seconds each named process uses between `start()` and the returned function's call. */
export function cpuMeter(pids: Record<string, number>): () => Record<string, number> {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  return () => Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, Math.round((cpuSeconds(pid) - (before[name] ?? 0)) * 10) / 10]));
}

/** Busy CPU seconds of the whole machine so far (all cores, from /proc/stat): the rest of a run's CPU is someone else's. */
export function machineBusySeconds(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / clockTicks;
}

/** Like cpuMeter, plus `otherProcesses`: machine-wide busy CPU seconds that none of `pids` used (other work on the box). */
export function cpuMeterWithOthers(pids: Record<string, number>): () => Record<string, number> {
  const ours = cpuMeter(pids);
  const before = machineBusySeconds();
  return () => {
    const used = ours();
    const busy = machineBusySeconds() - before;
    const sum = Object.values(used).reduce((a, b) => a + b, 0);
    return { ...used, otherProcesses: Math.round(Math.max(0, busy - sum) * 10) / 10 };
  };
}

/** The machine a number was measured on, for the summary. */
export function machine(): { cores: number; memoryGiB: number; cpu: string; node: string; loadAverage: number[] } {
  const loadAverage = loadavg().map((l) => Math.round(l * 100) / 100);
  return { cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), cpu: cpus()[0]?.model ?? 'unknown', node: process.version, loadAverage };
}

/** Prints the one JSON summary line of a benchmark on stdout. */
export function printSummary(summary: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...summary, machine: machine(), at: new Date().toISOString() }, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Watch timestamps.

/**
 * Records, per Workload key, the first time (performance.now()) a watch event shows `reached(w)`; the Informer is
 * the operator's own (list + watch), so the bench sees objects exactly as a controller would.
 */
export class Milestones {
  readonly at = new Map<string, number>();
  readonly #informer: Informer<Workload>;
  readonly #stop = new AbortController();
  readonly #waiters = new Set<() => void>();

  constructor(client: KubeClient, namespace: string, reached: (w: Workload) => boolean) {
    this.#informer = new Informer<Workload>(client, workloadType, { namespace, logger: logger.child({ namespace }) });
    const see = (w: Workload): void => {
      const key = objectKey(w);
      if (this.at.has(key) || !reached(w)) return;
      this.at.set(key, performance.now());
      for (const wake of this.#waiters) wake();
    };
    this.#informer.addHandler({ add: see, update: (_old, w) => see(w) });
    void this.#informer.run(this.#stop.signal);
  }

  synced(): Promise<boolean> {
    return this.#informer.waitForSync(this.#stop.signal);
  }

  /** Resolves once `count` keys have reached the milestone; rejects after `timeoutMs`. */
  async waitFor(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.at.size < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`only ${this.at.size} of ${count} Workloads reached the milestone after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 1000));
        this.#waiters.add(wake);
      });
    }
  }

  stop(): void {
    this.#stop.abort();
  }
}

export const isBound = (w: Workload): boolean => Boolean(w.status?.nodeName);
export const isRunning = (w: Workload): boolean => w.status?.phase === 'Running' && findCondition(w.status?.conditions, 'Ready')?.status === 'True';

// ---------------------------------------------------------------------------------------------
// The cluster.

export interface BenchCluster {
  dir: string;
  cp: ControlPlane;
  client: KubeClient;
  log: Logger;
  /** Registers cleanup run (last first) by `close`. */
  defer(fn: () => Promise<unknown> | unknown): void;
  close(): Promise<void>;
}

/** A control plane with the CRDs and the namespaces the operator and agents use, in a temp dir of its own. */
export async function startCluster(name: string, namespaces: readonly string[] = []): Promise<BenchCluster> {
  const log = logger.child({ bench: name });
  const dir = await mkdtemp(join(tmpdir(), `shoal-bench-${name}-`));
  const cp = await ControlPlane.start({ dir: join(dir, 'cp'), logger: log.child({ component: 'controlplane' }) });
  const cleanups: (() => Promise<unknown> | unknown)[] = [async () => cp.stop(), async () => rm(dir, { recursive: true, force: true })].reverse();
  const cluster: BenchCluster = {
    dir,
    cp,
    client: new KubeClient(loadCredentials(cp.kubeconfigPath)),
    log,
    defer: (fn) => void cleanups.unshift(fn),
    async close() {
      await cluster.client.close();
      for (const fn of cleanups.splice(0)) {
        try {
          await fn();
        } catch (err) {
          log.warn('cleanup failed', { err });
        }
      }
    },
  };
  try {
    await installCRDs(cp, join(repoRoot, 'crds'));
    for (const ns of ['shoal-system', nodeLeaseNamespace, ...namespaces]) {
      await cluster.client.request('POST', resourcePath(coreTypes.namespace), { body: { metadata: { name: ns } } }).catch((err: KubeApiError) => {
        if (!isAlreadyExists(err)) throw err;
      });
    }
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

/** Writes the API server has served so far, by `VERB resource[/subresource]` (its apiserver_request_total). */
export async function apiserverWrites(cp: ControlPlane): Promise<Record<string, number>> {
  const res = await cp.kubectl(['get', '--raw', '/metrics']);
  if (res.code !== 0) throw new Error(`cannot read the API server's metrics: ${res.stderr}`);
  const out: Record<string, number> = {};
  for (const m of res.stdout.matchAll(/^apiserver_request_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (!['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE'].includes(labels['verb'] ?? '')) continue;
    const key = `${labels['verb']} ${labels['resource']}${labels['subresource'] ? `/${labels['subresource']}` : ''}`;
    out[key] = (out[key] ?? 0) + Number(m[2]);
  }
  return out;
}

/** The writes served between two `apiserverWrites` readings (only those that changed). */
export function writesBetween(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).flatMap(([key, n]) => (n - (before[key] ?? 0) > 0 ? [[key, n - (before[key] ?? 0)]] : [])));
}

/** Runs `start` with NODE_OPTIONS set (e.g. `--cpu-prof --cpu-prof-dir=…`) so the child it spawns inherits them. */
async function withNodeOptions<T>(nodeOptions: string | undefined, start: () => Promise<T>): Promise<T> {
  const saved = process.env['NODE_OPTIONS'];
  if (nodeOptions) process.env['NODE_OPTIONS'] = nodeOptions;
  try {
    return await start();
  } finally {
    if (saved === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = saved;
  }
}

/** `node --cpu-prof` options writing into `dir`, or undefined without a dir. */
export const cpuProfileOptions = (dir: string | undefined): string | undefined => (dir ? `--cpu-prof --cpu-prof-dir=${dir}` : undefined);

/** The real operator process, stopped (SIGTERM, so a --cpu-prof profile is written) by `close`. */
export async function startBenchOperator(cluster: BenchCluster, options: { nodeOptions?: string | undefined; args?: string[] } = {}): Promise<ShoalProcess> {
  const operator = await withNodeOptions(options.nodeOptions, () => startOperator(cluster.cp, { args: options.args ?? [] }));
  cluster.defer(() => operator.stop('SIGTERM'));
  return operator;
}

export const benchNodeName = 'bench-node';
export const benchNodeLabels = { 'bench.shoal.dev/node': 'true' };

export interface BenchNode {
  env: NodeEnv;
  operator: ShoalProcess;
  agent: ShoalProcess;
  /** `<registry>/<repo:tag>` of a seeded image. */
  image(name: string): string;
}

/** The agent's code: TypeScript through Node's type stripping (as the tests run it) or build/ (as the image runs it). */
export type AgentEntry = 'src' | 'build';

/** One real node: a seeded registry and containerd (hack/env.ts), the operator, and an agent with the default 10 s heartbeat. */
export async function startBenchNode(cluster: BenchCluster, options: { agentNodeOptions?: string | undefined; agentEntry?: AgentEntry; agentArgs?: string[] } = {}): Promise<BenchNode> {
  const env = await startNodeEnv({ dir: join(cluster.dir, 'env'), nodes: 1, logger: cluster.log.child({ component: 'node-env' }) });
  cluster.defer(() => env.stop({ purge: true }));
  const operator = await startBenchOperator(cluster);
  const node = env.nodes[0]!;
  const agentOptions: AgentOptions = {
    node: benchNodeName,
    kubeconfig: cluster.cp.kubeconfigPath,
    containerdAddress: node.containerd.address,
    runcRoot: node.containerd.runcRoot,
    stateDir: join(cluster.dir, 'agent'),
    labels: benchNodeLabels,
    args: ['--heartbeat-interval=10s', ...(options.agentArgs ?? [])],
  };
  const agent = await withNodeOptions(options.agentNodeOptions, () => (options.agentEntry === 'build' ? startBuiltAgent(agentOptions) : startAgent(agentOptions)));
  cluster.defer(() => agent.stop('SIGTERM'));
  await waitNodesReady(cluster.cp.kubeconfigPath, [benchNodeName], 60_000, () => (agent.child.exitCode === null ? undefined : `the agent exited:\n${agent.output().slice(-3000)}`));
  return { env, operator, agent, image: (name) => `${env.registry.host}/${name}` };
}

/** `node build/bin/shoal.js agent …` with the same flags as the tests' agents. */
async function startBuiltAgent(options: AgentOptions): Promise<ShoalProcess> {
  const entry = join(repoRoot, 'build/bin/shoal.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`make build\` first`);
  return startAgent({ ...options, entry });
}

/** A Workload on the bench node. */
export function workloadBody(namespace: string, name: string, spec: Partial<Workload['spec']>): Workload {
  return {
    apiVersion: 'shoal.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace },
    spec: { image: 'localhost:5000/shoal/busybox:1.36', ...spec },
  } as Workload;
}

/** Starts a cluster, runs `main` on it and closes it whatever happens; exits 1 on failure. */
export async function runBench(name: string, namespaces: readonly string[], main: (cluster: BenchCluster) => Promise<void>): Promise<void> {
  let cluster: BenchCluster | undefined;
  try {
    cluster = await startCluster(name, namespaces);
    await main(cluster);
  } catch (err) {
    logger.error('benchmark failed', { bench: name, err });
    process.exitCode = 1;
  } finally {
    await cluster?.close();
  }
}
