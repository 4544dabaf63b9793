// The agent's idle cost: CPU (% of one core) and RSS of the agent process over 60 s while it runs 20 Workloads
// (`shoal/sleeper:1`) on a real containerd, with the default 10 s heartbeat, read from /proc/<pid>/stat and status.
//
// Baseline, over the same window: an idle `node -e 'setInterval(()=>{},1e3)'` on the same Node 24, the floor any
// Node process pays.
//
//   node bench/agent-idle.ts [--workloads 20] [--seconds 60] [--agent-from build|src] [--agent-args=…] [--profile DIR] [--agent-node-options=…]
//
// --agent-from build (the default) runs the agent as the image does, from the JavaScript `make build` emits into
// build/; `src` runs the TypeScript through Node's type stripping, as the tests do. --agent-args adds agent flags
// (e.g. `--agent-args=--mirror-peer-bind-address=0`: the agent without its registry mirror).
// --profile runs the agent under `node --cpu-prof` and summarizes where its CPU went during the window;
// --agent-node-options sets NODE_OPTIONS for the agent (experiments, e.g. V8 heap flags). The summary also says
// where the agent's RSS is: V8's heap (from its /metrics) and the largest mappings of /proc/<pid>/smaps.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { standardImages } from '../hack/images.ts';
import { workloadType } from '../operator/src/api/generated/types.ts';
import { resourcePath } from '../operator/src/runtime/resource.ts';
import { readProfile, summarizeProfile } from './profile.ts';
import { Milestones, benchNodeLabels, type AgentEntry, cpuMeter, cpuProfileOptions, cpuSecondsByThread, isRunning, pool, printSummary, ratio, rssBytes, runBench, startBenchNode, workloadBody } from './harness.ts';

const { values: opts } = parseArgs({
  options: { workloads: { type: 'string', default: '20' }, seconds: { type: 'string', default: '60' }, profile: { type: 'string' }, 'agent-node-options': { type: 'string' }, 'agent-from': { type: 'string', default: 'build' }, 'agent-args': { type: 'string', default: '' } },
});
const profileDir = opts.profile ? resolve(opts.profile) : undefined;
const count = Number(opts.workloads);
const seconds = Number(opts.seconds);
const namespace = 'idle';
const agentEntry = opts['agent-from'] as AgentEntry;
const agentArgs = (opts['agent-args'] ?? '').split(/\s+/).filter(Boolean);
if (agentEntry !== 'build' && agentEntry !== 'src') throw new Error(`--agent-from: build or src, not ${JSON.stringify(agentEntry)}`);
const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

await runBench('agent-idle', [namespace], async (cluster) => {
  const { client, log } = cluster;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const agentNodeOptions = [cpuProfileOptions(profileDir), opts['agent-node-options']].filter(Boolean).join(' ') || undefined;
  const node = await startBenchNode(cluster, { agentNodeOptions, agentEntry, agentArgs });
  const running = new Milestones(client, namespace, isRunning);
  await running.synced();
  const spec = { image: node.image(standardImages.sleeper), restartPolicy: 'Never', terminationGracePeriodSeconds: 0, nodeSelector: benchNodeLabels } as const;
  await pool(count, 4, async (i) => void (await client.request('POST', resourcePath(workloadType, namespace), { body: workloadBody(namespace, `sleeper-${i}`, spec) })));
  await running.waitFor(count, 120_000);
  running.stop();
  // Let the start-up writes and the first status reports pass: idle means nothing changes.
  await sleep(15_000);

  const idle = spawn(process.execPath, ['-e', 'setInterval(()=>{},1e3)'], { stdio: 'ignore' });
  cluster.defer(() => idle.kill('SIGKILL'));
  await sleep(2_000); // past its start-up
  const pids = { agent: node.agent.child.pid ?? 0, baseline: idle.pid ?? 0 };
  const cpu = cpuMeter(pids);
  const threadsBefore = cpuSecondsByThread(pids.agent);
  const rss: Record<keyof typeof pids, number[]> = { agent: [], baseline: [] };
  const began = performance.now();
  for (let s = 0; s < seconds; s++) {
    for (const name of ['agent', 'baseline'] as const) rss[name].push(rssBytes(pids[name]));
    await sleep(1000);
  }
  const used = cpu();
  const elapsed = (performance.now() - began) / 1000;
  const threadsAfter = cpuSecondsByThread(pids.agent);
  const byThread = Object.fromEntries(
    Object.entries(threadsAfter)
      .map(([name, s]) => [name, Math.round((s - (threadsBefore[name] ?? 0)) * 100) / 100] as const)
      .filter(([, s]) => s > 0),
  );
  const memory = { v8: v8Memory(await node.agent.metrics().catch(() => '')), largestMappings: rssByMapping(pids.agent, 8) };
  // Stopped right at the end of the window, so the profile's last `elapsed` seconds are the window.
  if (profileDir) await node.agent.stop('SIGTERM');
  const profile = profileDir ? readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1) : undefined;
  const measure = (name: keyof typeof pids): { cpuPercentOfCore: number; rssMiB: { mean: number; max: number } } => ({
    cpuPercentOfCore: Math.round(((used[name] ?? 0) / elapsed) * 1000) / 10,
    rssMiB: { mean: mib(rss[name].reduce((a, b) => a + b, 0) / rss[name].length), max: mib(Math.max(...rss[name])) },
  });
  const agent = measure('agent');
  const baseline = measure('baseline');
  log.info('measured', { agent, baseline });
  printSummary({
    bench: 'agent-idle',
    command: `node bench/agent-idle.ts --workloads ${count} --seconds ${seconds} --agent-from ${agentEntry}${agentArgs.length ? ` --agent-args='${agentArgs.join(' ')}'` : ''}${opts['agent-node-options'] ? ` --agent-node-options='${opts['agent-node-options']}'` : ''}`,
    workloads: `${count} × ${standardImages.sleeper}, Running`,
    windowSeconds: Math.round(elapsed),
    heartbeatSeconds: 10,
    baseline: { what: "node -e 'setInterval(()=>{},1e3)' on the same Node", ...baseline },
    agent: { ...agent, cpuSecondsByThread: byThread, memoryMiB: memory },
    ratio: { rss: ratio(agent.rssMiB.mean, baseline.rssMiB.mean) },
    target: { cpuPercentOfCore: 1, rssMB: 120 },
    // The target is in MB (10^6 bytes).
    met: { cpu: agent.cpuPercentOfCore < 1, rss: (agent.rssMiB.max * 2 ** 20) / 1e6 < 120 },
    ...(profile && profileDir ? { profile: { file: join(profileDir, profile), ...summarizeProfile(readProfile(join(profileDir, profile)), 15, elapsed * 1000) } } : {}),
  });
});

/** V8's own accounting at the end of the window (prom-client's default metrics on the agent's /metrics), MiB. */
function v8Memory(metrics: string): Record<string, number> {
  const read = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? Number.NaN);
  return {
    heapTotal: mib(read('nodejs_heap_size_total_bytes')),
    heapUsed: mib(read('nodejs_heap_size_used_bytes')),
    external: mib(read('nodejs_external_memory_bytes')),
  };
}

/** Resident MiB per mapping of /proc/<pid>/smaps (anonymous ones together), largest first. */
function rssByMapping(pid: number, top: number): Record<string, number> {
  const byName = new Map<string, number>();
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) name = header[1] || '[anonymous]';
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    if (rss) byName.set(name, (byName.get(name) ?? 0) + Number(rss[1]) * 1024);
  }
  return Object.fromEntries([...byName].sort((a, b) => b[1] - a[1]).slice(0, top).map(([n, bytes]) => [n, mib(bytes)]));
}
