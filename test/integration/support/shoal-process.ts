// Runs the real binary (`node bin/shoal.ts operator|agent …`) as a child process for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { freePort, type ControlPlane } from '../../../hack/controlplane.ts';
import { repoRoot } from '../fixture.ts';

export interface ShoalProcess {
  readonly child: ChildProcess;
  readonly metricsUrl: string;
  readonly healthUrl: string;
  output(): string;
  metrics(): Promise<string>;
  /** Sends `signal` and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

// Children still running when the test process exits (a failed hook, an interrupted run) are killed with it.
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** The sources as tests run them; benchmarks may pass `build/bin/shoal.js` (what the image runs). */
const sourceEntry = join(repoRoot, 'bin/shoal.ts');

async function startShoal(command: 'operator' | 'agent', args: string[], env: Record<string, string> = {}, entry = sourceEntry): Promise<ShoalProcess> {
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [entry, command, `--metrics-bind-address=127.0.0.1:${metricsPort}`, `--health-probe-bind-address=127.0.0.1:${healthPort}`, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAME: `${command}-${metricsPort}`, ...env } },
  );
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  live.add(child);
  void exited.then(() => live.delete(child));
  return {
    child,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    healthUrl: `http://127.0.0.1:${healthPort}`,
    output: () => log,
    metrics: async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      // A process that does not finish its shutdown must not hold the test run open.
      const escalate = setTimeout(() => child.kill('SIGKILL'), 15_000);
      try {
        return await exited;
      } finally {
        clearTimeout(escalate);
      }
    },
  };
}

export type OperatorProcess = ShoalProcess;

export async function startOperator(cp: ControlPlane, options: { leaderElect?: boolean; namespace?: string; leaseName?: string; args?: string[] } = {}): Promise<ShoalProcess> {
  return startShoal(
    'operator',
    [
      `--kubeconfig=${cp.kubeconfigPath}`,
      `--leader-elect=${options.leaderElect ?? true}`,
      `--leader-election-namespace=${options.namespace ?? 'shoal-system'}`,
      `--leader-election-id=${options.leaseName ?? 'shoal-operator-leader'}`,
      ...(options.args ?? []),
    ],
  );
}

export interface AgentOptions {
  node: string;
  kubeconfig: string;
  containerdAddress: string;
  runcRoot: string;
  stateDir: string;
  /** The program to run; default the TypeScript sources (`bin/shoal.ts`). */
  entry?: string;
  /** containerd's config_path (hack/containerd.ts certsDir), where the mirror writes hosts.toml. */
  certsDir?: string;
  labels?: Record<string, string>;
  args?: string[];
}

export async function startAgent(options: AgentOptions): Promise<ShoalProcess> {
  const labels = Object.entries(options.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  return startShoal('agent', [
    // Several agents share this host: each gets its own ports (options.args may override them).
    `--logs-bind-address=127.0.0.1:${await freePort()}`,
    '--mirror-bind-address=127.0.0.1:0',
    '--mirror-peer-bind-address=127.0.0.1:0',
    '--p2p-listen-address=/ip4/127.0.0.1/tcp/0',
    ...(options.certsDir ? [`--containerd-config-path=${options.certsDir}`] : []),
    `--node-name=${options.node}`,
    `--kubeconfig=${options.kubeconfig}`,
    `--containerd-address=${options.containerdAddress}`,
    `--runc-root=${options.runcRoot}`,
    `--state-dir=${options.stateDir}`,
    `--node-labels=${labels}`,
    '--heartbeat-interval=2s',
    ...(options.args ?? []),
  ], {}, options.entry);
}
