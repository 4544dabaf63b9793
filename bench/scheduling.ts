// Scheduler throughput and latency: the real operator process against a real kube-apiserver, 1000 Nodes
// registered by fake agents (test/integration/support/fake-agent.ts) whose Leases are renewed every 10 s with the
// real agent's own call (agents/node/heartbeat.ts `renewLease`, spread evenly over the interval), and 5000 Workloads created as fast as the API
// server takes them (bounded concurrency). Measures Workloads bound per second and create→bound latency (create
// response → the watch shows status.nodeName).
//
// Baseline, in the same run and against the same API server and fleet: the same 5000 creates plus one status
// apply per Workload (nodeName set) done by this client with no operator, i.e. the API server's own ceiling for
// those writes on this machine. The ratio isolates what the operator adds.
//
//   node bench/scheduling.ts [--nodes 1000] [--workloads 5000] [--concurrency 32] [--profile DIR] [--operator-args=…]
//
// --profile runs the operator under `node --cpu-prof` and adds a summary of where its CPU went; --operator-args
// passes flags to the operator (e.g. `--operator-args=--workload-concurrency=64`). Each run also reports the CPU seconds of every
// process and the writes the API server served, by resource.
import { readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { nodeType, workloadType, type Node, type Workload, type WorkloadStatus } from '../operator/src/api/generated/types.ts';
import { ownedConditions } from '../operator/src/runtime/conditions.ts';
import type { KubeList } from '../operator/src/runtime/resource.ts';
import { resourcePath } from '../operator/src/runtime/resource.ts';
import { applyStatus } from '../operator/src/runtime/writes.ts';
import { renewLease } from '../agents/node/heartbeat.ts';
import type { KubeClient } from '../operator/src/runtime/kube.ts';
import { FakeAgent } from '../test/integration/support/fake-agent.ts';
import type { ShoalProcess } from '../test/integration/support/shoal-process.ts';
import { Milestones, apiserverWrites, cpuMeterWithOthers, cpuProfileOptions, distribution, writesBetween, isBound, pool, printSummary, ratio, runBench, startBenchOperator, workloadBody, type BenchCluster, type Distribution } from './harness.ts';
import { readProfile, summarizeProfile } from './profile.ts';

const { values: opts } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    workloads: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '32' },
    profile: { type: 'string' },
    'operator-args': { type: 'string', default: '' },
  },
});
const nodeCount = Number(opts.nodes);
const workloadCount = Number(opts.workloads);
const concurrency = Number(opts.concurrency);
const operatorArgs = (opts['operator-args'] ?? '').split(/\s+/).filter(Boolean);
const nodeName = (i: number): string => `node-${String(i).padStart(4, '0')}`;

interface Run {
  workloads: number;
  /** Creates answered per second, first create sent → last create answered. */
  createsPerSecond: number;
  /** Workloads bound per second, first create sent → the watch shows the last one bound. */
  boundPerSecond: number;
  /** Create response → the watch shows status.nodeName, ms. */
  latencyMs: Distribution;
  wallSeconds: number;
  /** CPU seconds per process over the run (2 cores: at most 2 × wallSeconds in all); otherProcesses is the rest of the machine. */
  cpuSeconds: Record<string, number>;
  /** Writes the API server served over the run, by verb and resource (Lease renewals of the fleet included). */
  apiserverWrites: Record<string, number>;
}

/** Creates `workloadCount` Workloads in `namespace` (`afterCreate` runs in the same worker) and times each to bound. */
async function measure(cluster: BenchCluster, namespace: string, pids: Record<string, number>, afterCreate?: (w: Workload, i: number) => Promise<unknown>): Promise<Run> {
  const { client } = cluster;
  const bound = new Milestones(client, namespace, isBound);
  await bound.synced();
  const cpu = cpuMeterWithOthers({ ...pids, bench: process.pid });
  const writesBefore = await apiserverWrites(cluster.cp);
  const created = new Map<string, number>();
  const began = performance.now();
  await pool(workloadCount, concurrency, async (i) => {
    const name = `w-${i}`;
    const w = await client.request<Workload>('POST', resourcePath(workloadType, namespace), { body: workloadBody(namespace, name, {}) });
    created.set(`${namespace}/${name}`, performance.now());
    await afterCreate?.(w, i);
  });
  const createdAll = performance.now();
  await bound.waitFor(workloadCount, 600_000);
  const cpuSeconds = cpu();
  const writes = writesBetween(writesBefore, await apiserverWrites(cluster.cp));
  bound.stop();
  const latencies = [...created].map(([key, at]) => Math.max(0, (bound.at.get(key) ?? Number.NaN) - at));
  const lastBound = Math.max(...bound.at.values());
  const round = (n: number): number => Math.round(n * 10) / 10;
  return {
    workloads: workloadCount,
    createsPerSecond: round(workloadCount / ((createdAll - began) / 1000)),
    boundPerSecond: round(workloadCount / ((lastBound - began) / 1000)),
    latencyMs: distribution(latencies),
    wallSeconds: round((lastBound - began) / 1000),
    cpuSeconds,
    apiserverWrites: writes,
  };
}

/** From the operator's /metrics: count and mean ms of its scheduler writes by kind, and of the workload queue's wait and work. */
function schedulerWrites(metrics: string): Record<string, { count: number; meanMs: number }> {
  const mean = (series: string, labels: string): { count: number; meanMs: number } | undefined => {
    const read = (suffix: string): number => Number(metrics.split('\n').find((l) => l.startsWith(`${series}_${suffix}{${labels}}`))?.split(' ')[1] ?? Number.NaN);
    const count = read('count');
    return Number.isFinite(count) ? { count, meanMs: Math.round((read('sum') / count) * 10000) / 10 } : undefined;
  };
  const out: Record<string, { count: number; meanMs: number }> = {};
  for (const kind of ['bind', 'unschedulable']) {
    const m = mean('shoal_scheduler_write_duration_seconds', `kind="${kind}"`);
    if (m) out[`write ${kind}`] = m;
  }
  for (const [name, series] of [['queue wait', 'workqueue_queue_duration_seconds'], ['queue work', 'workqueue_work_duration_seconds']] as const) {
    const m = mean(series, 'name="workload",controller="workload"');
    if (m) out[name] = m;
  }
  return out;
}

/** What the operator writes when it binds, written here directly (one Scheduled condition; the operator also sets Ready). */
function boundStatus(node: string): WorkloadStatus {
  const message = `Bound to node ${node}.`;
  return { observedGeneration: 1, phase: 'Scheduled', reason: 'Scheduled', message, nodeName: node, attempt: 1, conditions: ownedConditions(undefined, [{ type: 'Scheduled', status: 'True', reason: 'Bound', message, observedGeneration: 1 }]) };
}

/** Renews every node's Lease once per `everyMs` as its agent would, a hundredth of the fleet at a time. */
function renewLeases(client: KubeClient, names: readonly string[], everyMs: number): () => void {
  const slots = 100;
  let tick = 0;
  const timer = setInterval(() => {
    const slot = tick++ % slots;
    for (let i = slot; i < names.length; i += slots) void renewLease(client, names[i] as string, Math.ceil((everyMs * 4) / 1000)).catch(() => undefined);
  }, everyMs / slots);
  return () => clearInterval(timer);
}

async function deleteAll(cluster: BenchCluster, namespace: string): Promise<void> {
  // Deleting 5000 objects in one call can outlast the client's default 30 s on a busy machine.
  await cluster.client.request('DELETE', resourcePath(workloadType, namespace), { timeoutMs: 300_000 });
  for (;;) {
    const left = await cluster.client.request<KubeList<Workload>>('GET', resourcePath(workloadType, namespace), { query: { limit: 1 } });
    if (left.items.length === 0) return;
    await sleep(500);
  }
}

/**
 * Waits until the operator's start-up work is done: every Node shows its `allocated` status (those writes are paced,
 * so they may still be due while the queues look empty) and its work queues stay empty.
 */
async function settled(operator: ShoalProcess, client: KubeClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (Date.now() > deadline) throw new Error('the operator did not publish every Node status');
    const nodes = await client.request<KubeList<Node>>('GET', resourcePath(nodeType));
    if (nodes.items.every((n) => n.status?.allocated)) break;
    await sleep(1000);
  }
  let quiet = 0;
  while (quiet < 3) {
    if (Date.now() > deadline) throw new Error('the operator did not settle');
    const text = await operator.metrics().catch(() => '');
    const depths = [...text.matchAll(/^workqueue_depth\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]));
    quiet = depths.length > 0 && depths.every((d) => d === 0) ? quiet + 1 : 0;
    await sleep(1000);
  }
}

await runBench('scheduling', ['bench', 'baseline', 'warmup'], async (cluster) => {
  const { client, log } = cluster;
  const fleetBegan = performance.now();
  // FakeAgent registers the Node (Ready, capacity) and its first Lease; the renewals are the real agent's call.
  await pool(nodeCount, 32, async (i) => (await FakeAgent.start(client, nodeName(i))).stop());
  cluster.defer(renewLeases(client, Array.from({ length: nodeCount }, (_, i) => nodeName(i)), 10_000));
  log.info('fleet registered', { nodes: nodeCount, seconds: Math.round((performance.now() - fleetBegan) / 100) / 10 });

  const [etcd, apiserver] = cluster.cp.pids();
  const controlPlane = { 'kube-apiserver': apiserver ?? 0, etcd: etcd ?? 0 };
  const baseline = await measure(cluster, 'baseline', controlPlane, (w, i) => applyStatus(client, workloadType, w, boundStatus(nodeName(i % nodeCount)), 'bench-baseline'));
  log.info('baseline done', { ...baseline });
  await deleteAll(cluster, 'baseline');

  const profileDir = opts.profile ? resolve(opts.profile) : undefined;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const operator = await startBenchOperator(cluster, { args: operatorArgs, nodeOptions: cpuProfileOptions(profileDir) });
  const warm = new Milestones(client, 'warmup', isBound);
  await client.request('POST', resourcePath(workloadType, 'warmup'), { body: workloadBody('warmup', 'first', {}) });
  await warm.waitFor(1, 120_000);
  warm.stop();
  await settled(operator, client, 300_000);
  log.info('operator leading and settled');

  const shoal = await measure(cluster, 'bench', { ...controlPlane, operator: operator.child.pid ?? 0 });
  const writes = schedulerWrites(await operator.metrics().catch(() => ''));
  log.info('operator run done', { ...shoal, writes });
  await operator.stop('SIGTERM');
  const profile = profileDir ? readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1) : undefined;

  printSummary({
    bench: 'scheduling',
    command: `node bench/scheduling.ts --nodes ${nodeCount} --workloads ${workloadCount} --concurrency ${concurrency}${profileDir ? ` --profile ${opts.profile}` : ''}${operatorArgs.length ? ` --operator-args '${operatorArgs.join(' ')}'` : ''}`,
    operatorArgs,
    nodes: nodeCount,
    leaseRenewalSeconds: 10,
    baseline: { what: 'same creates + one status apply each, by the bench client, no operator', ...baseline },
    shoal: { what: 'creates by the bench client, bindings by the operator process', ...shoal, schedulerWrites: writes },
    ratio: {
      boundPerSecond: ratio(shoal.boundPerSecond, baseline.boundPerSecond),
      latencyP50: ratio(shoal.latencyMs.p50, baseline.latencyMs.p50),
      latencyP99: ratio(shoal.latencyMs.p99, baseline.latencyMs.p99),
    },
    target: { boundPerSecond: 500, latencyP99Ms: 1000 },
    met: { boundPerSecond: shoal.boundPerSecond >= 500, latencyP99: shoal.latencyMs.p99 <= 1000 },
    ...(profile && profileDir ? { profile: { file: join(profileDir, profile), ...summarizeProfile(readProfile(join(profileDir, profile)), 15) } } : {}),
  });
});
