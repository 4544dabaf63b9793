// Runs the real operator binary (`node bin/shoal.ts operator`) as a child process for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { freePort, type ControlPlane } from '../../../hack/controlplane.ts';
import { repoRoot } from '../fixture.ts';

export interface OperatorProcess {
  readonly child: ChildProcess;
  readonly metricsUrl: string;
  readonly healthUrl: string;
  output(): string;
  metrics(): Promise<string>;
  /** Sends `signal` and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startOperator(cp: ControlPlane, options: { leaderElect?: boolean; namespace?: string; leaseName?: string; args?: string[] } = {}): Promise<OperatorProcess> {
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [
      join(repoRoot, 'bin/shoal.ts'),
      'operator',
      `--kubeconfig=${cp.kubeconfigPath}`,
      `--leader-elect=${options.leaderElect ?? true}`,
      `--leader-election-namespace=${options.namespace ?? 'shoal-system'}`,
      `--leader-election-id=${options.leaseName ?? 'shoal-operator-leader'}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${healthPort}`,
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAME: `op-${metricsPort}` } },
  );
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    healthUrl: `http://127.0.0.1:${healthPort}`,
    output: () => log,
    metrics: async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
