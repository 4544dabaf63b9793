// The operator process: shared informers, the controllers, leader election, probes and metrics.
import { KubeConfig } from '@kubernetes/client-node';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { mirrorPolicyController } from './controllers/mirrorpolicy.ts';
import { nodeLifecycleController } from './controllers/node.ts';
import { workloadController } from './controllers/workload.ts';
import { nodeType, workloadType, type Node, type Workload } from './api/generated/types.ts';
import { parseDuration } from './runtime/duration.ts';
import { NodeAccounting } from './scheduler/accounting.ts';
import { flagHelp, parseBool, parseFlags, parsePositiveInteger, type FlagSpec } from './runtime/flags.ts';
import { KubeClient } from './runtime/kube.ts';
import { createLogger, type LogLevel } from './runtime/log.ts';
import { Manager, runUntilSignalled } from './runtime/manager.ts';

export const operatorFlags = {
  kubeconfig: { help: 'Path to a kubeconfig; empty means in-cluster config or $KUBECONFIG.', default: '', env: 'KUBECONFIG' },
  'leader-elect': { help: 'Elect a leader with a Lease so that only one replica reconciles.', default: 'true' },
  'leader-election-namespace': { help: 'Namespace of the leader Lease.', default: process.env['POD_NAMESPACE'] ?? 'shoal-system' },
  'leader-election-id': { help: 'Name of the leader Lease.', default: 'shoal-operator-leader' },
  'metrics-bind-address': { help: 'Address of the Prometheus /metrics endpoint; 0 disables it.', default: ':8080' },
  'health-probe-bind-address': { help: 'Address of /healthz and /readyz; 0 disables it.', default: ':8081' },
  'node-lease-timeout': { help: 'A node whose agent has not renewed its Lease for this long is Ready=False (LeaseExpired).', default: '40s' },
  'node-lost-grace-period': { help: 'After a node is NotReady this much longer, its Workloads fail with NodeLost and are rescheduled where restartPolicy allows.', default: '60s' },
  'workload-concurrency': { help: 'Binding writes in flight; decisions are made one at a time.', default: '128' },
  'log-level': { help: 'debug, info, warn or error.', default: 'info' },
} satisfies Record<string, FlagSpec>;

export async function runOperator(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`Usage: shoal operator [flags]\n${flagHelp(operatorFlags)}\n`);
    return 0;
  }
  const flags = parseFlags(operatorFlags, argv);
  const log = createLogger({ component: 'operator' }, { level: flags['log-level'] as LogLevel });
  const config = new KubeConfig();
  if (flags.kubeconfig) config.loadFromFile(flags.kubeconfig);
  else config.loadFromDefault();
  const client = KubeClient.fromKubeConfig(config);
  const identity = `${process.env['POD_NAME'] ?? hostname()}_${randomUUID()}`;
  const manager = new Manager({
    client,
    logger: log,
    metricsBindAddress: flags['metrics-bind-address'],
    healthBindAddress: flags['health-probe-bind-address'],
    leaderElection: parseBool(flags['leader-elect'], 'leader-elect')
      ? { namespace: flags['leader-election-namespace'], name: flags['leader-election-id'], identity }
      : undefined,
  });
  mirrorPolicyController(manager);
  const scheduling = {
    manager,
    workloads: manager.informers.for<Workload>(workloadType),
    nodes: manager.informers.for<Node>(nodeType),
    accounting: new NodeAccounting(),
  };
  workloadController(scheduling, parsePositiveInteger(flags['workload-concurrency'], 'workload-concurrency'));
  nodeLifecycleController(scheduling, {
    leaseTimeoutMs: parseDuration(flags['node-lease-timeout']),
    lostGraceMs: parseDuration(flags['node-lost-grace-period']),
  });

  log.info('starting', { identity, server: client.server });
  return runUntilSignalled(manager, () => client.close());
}
