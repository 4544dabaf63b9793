// The node agent process (`shoal agent`): registers this node, heartbeats, and runs the Workloads bound here.
import { Counter } from 'prom-client';
import { flagHelp, parseFlags, parsePositiveInteger, type FlagSpec, type FlagValues } from '../operator/src/runtime/flags.ts';
import { parseDuration } from '../operator/src/runtime/duration.ts';
import { workloadType, type Workload } from '../operator/src/api/generated/types.ts';
import { loadCredentials } from '../operator/src/runtime/credentials.ts';
import { KubeClient } from '../operator/src/runtime/kube.ts';
import { createLogger, type Logger, type LogLevel } from '../operator/src/runtime/log.ts';
import { Manager, runUntilSignalled } from '../operator/src/runtime/manager.ts';
import { runHeartbeat } from './node/heartbeat.ts';
import { startLogsServer } from './logs/server.ts';
import { ensureNode, type NodeIdentity } from './node/registration.ts';
import { runStatusReporter } from './node/status-reporter.ts';
import { ContainerdClient } from './runtime/containerd/client.ts';
import type { MirrorAgent } from './mirror/mirror-agent.ts';
import { advertisedHost } from './node/host.ts';
import { ImageInventory } from './node/image-inventory.ts';
import { parseBindAddress } from '../operator/src/runtime/http.ts';
import { runWorkloads } from './runtime/workloads.ts';

export const agentVersion = '0.1.0';

export const agentFlags = {
  'node-name': { help: 'Name of this node (the core Node name on Kubernetes).', default: '', env: 'NODE_NAME' },
  kubeconfig: { help: 'Path to a kubeconfig; empty means in-cluster config or $KUBECONFIG.', default: '', env: 'KUBECONFIG' },
  'node-labels': { help: 'Extra labels for our Node, as k=v,k2=v2.', default: '' },
  'containerd-address': { help: "containerd's gRPC socket.", default: '/run/containerd/containerd.sock' },
  'containerd-namespace': { help: 'containerd namespace for containers (CRI pulls images into k8s.io).', default: 'k8s.io' },
  'containerd-config-path': { help: "containerd's registry config_path (certs.d) where the mirror writes hosts.toml.", default: '/etc/containerd/certs.d' },
  'containerd-content-dir': { help: "containerd's content store directory (<root>/io.containerd.content.v1.content), read directly by the mirror when set; empty: read through containerd's API.", default: '' },
  'runc-root': { help: "runc's state root for our containers; set it when several containerd instances share a host.", default: '' },
  'state-dir': { help: 'Where the agent keeps its identity, logs and state.', default: '/var/lib/shoal' },
  'max-workloads': { help: 'Workloads this node accepts at most.', default: '110' },
  'heartbeat-interval': { help: 'How often the Lease is renewed.', default: '10s' },
  'mirror-bind-address': { help: "The registry mirror's containerd-facing listener (loopback only); empty: 127.0.0.1:<the MirrorPolicy's mirrorPort>.", default: '' },
  'mirror-peer-bind-address': { help: "The registry mirror's listener for other agents (requests signed by a cluster Node's key); 0 disables the mirror.", default: ':5051' },
  'mirror-advertise-address': { help: 'Address other agents reach the peer listener at; empty: the bound address, or the first InternalIP when bound to all.', default: '' },
  'p2p-listen-address': { help: 'libp2p listen multiaddrs (comma-separated) for the mirror DHT.', default: '/ip4/0.0.0.0/tcp/5052' },
  'p2p-announce-address': { help: 'libp2p multiaddrs to publish instead of the listen addresses (comma-separated).', default: '' },
  'metrics-bind-address': { help: 'Address of /metrics; 0 disables it.', default: ':9090' },
  'health-probe-bind-address': { help: 'Address of /healthz and /readyz; 0 disables it.', default: ':9091' },
  'logs-bind-address': { help: 'Address of the authenticated HTTPS logs endpoint (kubectl shoal logs), published in the Node status; 0 disables it.', default: ':9092' },
  'tls-cert-file': { help: "PEM certificate (chain) of the logs endpoint; empty means a self-signed one kept in <state-dir>/pki.", default: '' },
  'tls-private-key-file': { help: 'PEM private key of --tls-cert-file.', default: '' },
  'log-level': { help: 'debug, info, warn or error.', default: 'info' },
} satisfies Record<string, FlagSpec>;

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const [key, value = ''] = pair.split('=');
    if (!key) throw new Error(`--node-labels: bad pair ${JSON.stringify(pair)}`);
    labels[key.trim()] = value.trim();
  }
  return labels;
}

export async function runAgent(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`Usage: shoal agent [flags]\n${flagHelp(agentFlags)}\n`);
    return 0;
  }
  const flags = parseFlags(agentFlags, argv);
  if (!flags['node-name']) throw new Error('--node-name (or NODE_NAME) is required');
  const log = createLogger({ component: 'agent', node: flags['node-name'] }, { level: flags['log-level'] as LogLevel });
  const identity: NodeIdentity = { name: flags['node-name'], labels: parseLabels(flags['node-labels']), maxWorkloads: parsePositiveInteger(flags['max-workloads'], 'max-workloads'), agentVersion };
  const heartbeatMs = parseDuration(flags['heartbeat-interval']);
  const client = new KubeClient(loadCredentials(flags.kubeconfig || undefined));
  const manager = new Manager({ client, logger: log, metricsBindAddress: flags['metrics-bind-address'], healthBindAddress: flags['health-probe-bind-address'] });
  const renewals = new Counter({ name: 'shoal_agent_lease_renewals_total', help: 'Node Lease renewals by result', labelNames: ['result'], registers: [manager.metrics.registry] });

  // The Workloads bound here: the same shared informer the runtime reconciles from.
  const bound = manager.informers.for<Workload>(workloadType, { fieldSelector: `status.nodeName=${identity.name}` });
  const logs = await startLogsServer({
    bindAddress: flags['logs-bind-address'],
    certFile: flags['tls-cert-file'],
    keyFile: flags['tls-private-key-file'],
    stateDir: flags['state-dir'],
    node: identity.name,
    client,
    workloads: bound,
    registry: manager.metrics.registry,
    logger: log.child({ subsystem: 'logs' }),
  });
  if (logs) identity.agentEndpoint = logs.endpoint;

  const containerd = await ContainerdClient.connect({ address: flags['containerd-address'], namespace: flags['containerd-namespace'], logger: log.child({ subsystem: 'containerd' }), connectTimeoutMs: 30_000 });
  const mirror = await startMirror(flags, manager, containerd, identity.name, log.child({ subsystem: 'mirror' }));
  const images = new ImageInventory({ containerd, logger: log.child({ subsystem: 'images' }), metrics: manager.metrics.registry });
  manager.addRunnable((signal) => images.run(signal));
  const node = await ensureNode(client, identity);
  log.info('registered', { uid: node.metadata.uid });
  const reporter = runStatusReporter({ client, manager, identity, containerd, logger: log, images, ...(mirror ? { mirror: mirror.policy.status } : {}) });
  manager.addReadyCheck('containerd', () => reporter.health().containerdProblem);
  manager.addRunnable((signal) => runHeartbeat({ client, node: identity.name, intervalMs: heartbeatMs, logger: log, renewals, onRenewed: reporter.poke }, signal));
  manager.addRunnable(reporter.run);
  runWorkloads({ manager, client, containerd, node: identity.name, stateDir: flags['state-dir'], ...(flags['runc-root'] ? { runcRoot: flags['runc-root'] } : {}), logger: log.child({ subsystem: 'runtime' }) });

  if (mirror) manager.addRunnable((signal) => mirror.run(signal));

  return runUntilSignalled(manager, async () => {
    await mirror?.close();
    await logs?.close();
    containerd.close();
    await client.close();
  });
}

type AgentFlags = FlagValues<typeof agentFlags>;

/** The P2P registry mirror, unless --mirror-peer-bind-address=0. */
async function startMirror(flags: AgentFlags, manager: Manager, containerd: ContainerdClient, node: string, logger: Logger): Promise<MirrorAgent | undefined> {
  const peerBind = parseBindAddress(flags['mirror-peer-bind-address']);
  if (!peerBind) return undefined;
  const list = (text: string): string[] => text.split(',').map((s) => s.trim()).filter(Boolean);
  // Loaded only when enabled: libp2p and the mirror cost ~40 MiB of an agent's memory.
  const { startMirrorAgent } = await import('./mirror/mirror-agent.ts');
  return startMirrorAgent({
    manager,
    node,
    containerd,
    stateDir: flags['state-dir'],
    certsDir: flags['containerd-config-path'],
    ...(flags['containerd-content-dir'] ? { contentDir: flags['containerd-content-dir'] } : {}),
    internalBind: parseBindAddress(flags['mirror-bind-address']),
    peerBind,
    advertiseHost: flags['mirror-advertise-address'] || advertisedHost(peerBind.host),
    p2pListen: list(flags['p2p-listen-address']),
    p2pAnnounce: list(flags['p2p-announce-address']),
    logger,
    metrics: manager.metrics.registry,
  });
}
