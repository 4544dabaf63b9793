// The node agent process (`shoal agent`): registers this node, heartbeats, and runs the Workloads bound here.
import { Counter } from 'prom-client';
import { flagHelp, parseFlags, parsePositiveInteger } from "../operator/src/runtime/flags.js";
import { parseDuration } from "../operator/src/runtime/duration.js";
import { workloadType } from "../operator/src/api/generated/types.js";
import { loadCredentials } from "../operator/src/runtime/credentials.js";
import { KubeClient } from "../operator/src/runtime/kube.js";
import { createLogger } from "../operator/src/runtime/log.js";
import { Manager, runUntilSignalled } from "../operator/src/runtime/manager.js";
import { runHeartbeat } from "./node/heartbeat.js";
import { startLogsServer } from "./logs/server.js";
import { ensureNode } from "./node/registration.js";
import { runStatusReporter } from "./node/status-reporter.js";
import { ContainerdClient } from "./runtime/containerd/client.js";
import { runWorkloads } from "./runtime/workloads.js";
export const agentVersion = '0.1.0';
export const agentFlags = {
    'node-name': { help: 'Name of this node (the core Node name on Kubernetes).', default: '', env: 'NODE_NAME' },
    kubeconfig: { help: 'Path to a kubeconfig; empty means in-cluster config or $KUBECONFIG.', default: '', env: 'KUBECONFIG' },
    'node-labels': { help: 'Extra labels for our Node, as k=v,k2=v2.', default: '' },
    'containerd-address': { help: "containerd's gRPC socket.", default: '/run/containerd/containerd.sock' },
    'containerd-namespace': { help: 'containerd namespace for containers (CRI pulls images into k8s.io).', default: 'k8s.io' },
    'containerd-config-path': { help: "containerd's registry config_path (certs.d) where the mirror writes hosts.toml.", default: '/etc/containerd/certs.d' },
    'runc-root': { help: "runc's state root for our containers; set it when several containerd instances share a host.", default: '' },
    'state-dir': { help: 'Where the agent keeps its identity, logs and state.', default: '/var/lib/shoal' },
    'max-workloads': { help: 'Workloads this node accepts at most.', default: '110' },
    'heartbeat-interval': { help: 'How often the Lease is renewed.', default: '10s' },
    'mirror-bind-address': { help: 'Address of the registry mirror (served once the mirror is enabled).', default: ':5050' },
    'metrics-bind-address': { help: 'Address of /metrics; 0 disables it.', default: ':9090' },
    'health-probe-bind-address': { help: 'Address of /healthz and /readyz; 0 disables it.', default: ':9091' },
    'logs-bind-address': { help: 'Address of the authenticated HTTPS logs endpoint (kubectl shoal logs), published in the Node status; 0 disables it.', default: ':9092' },
    'tls-cert-file': { help: "PEM certificate (chain) of the logs endpoint; empty means a self-signed one kept in <state-dir>/pki.", default: '' },
    'tls-private-key-file': { help: 'PEM private key of --tls-cert-file.', default: '' },
    'log-level': { help: 'debug, info, warn or error.', default: 'info' },
};
function parseLabels(text) {
    const labels = {};
    for (const pair of text.split(',').filter(Boolean)) {
        const [key, value = ''] = pair.split('=');
        if (!key)
            throw new Error(`--node-labels: bad pair ${JSON.stringify(pair)}`);
        labels[key.trim()] = value.trim();
    }
    return labels;
}
export async function runAgent(argv) {
    if (argv.includes('--help')) {
        process.stdout.write(`Usage: shoal agent [flags]\n${flagHelp(agentFlags)}\n`);
        return 0;
    }
    const flags = parseFlags(agentFlags, argv);
    if (!flags['node-name'])
        throw new Error('--node-name (or NODE_NAME) is required');
    const log = createLogger({ component: 'agent', node: flags['node-name'] }, { level: flags['log-level'] });
    const identity = { name: flags['node-name'], labels: parseLabels(flags['node-labels']), maxWorkloads: parsePositiveInteger(flags['max-workloads'], 'max-workloads'), agentVersion };
    const heartbeatMs = parseDuration(flags['heartbeat-interval']);
    const client = new KubeClient(loadCredentials(flags.kubeconfig || undefined));
    const manager = new Manager({ client, logger: log, metricsBindAddress: flags['metrics-bind-address'], healthBindAddress: flags['health-probe-bind-address'] });
    const renewals = new Counter({ name: 'shoal_agent_lease_renewals_total', help: 'Node Lease renewals by result', labelNames: ['result'], registers: [manager.metrics.registry] });
    // The Workloads bound here: the same shared informer the runtime reconciles from.
    const bound = manager.informers.for(workloadType, { fieldSelector: `status.nodeName=${identity.name}` });
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
    if (logs)
        identity.agentEndpoint = logs.endpoint;
    const containerd = await ContainerdClient.connect({ address: flags['containerd-address'], namespace: flags['containerd-namespace'], logger: log.child({ subsystem: 'containerd' }), connectTimeoutMs: 30_000 });
    const node = await ensureNode(client, identity);
    log.info('registered', { uid: node.metadata.uid });
    const reporter = runStatusReporter({ client, manager, identity, containerd, logger: log });
    manager.addReadyCheck('containerd', () => reporter.health().containerdProblem);
    manager.addRunnable((signal) => runHeartbeat({ client, node: identity.name, intervalMs: heartbeatMs, logger: log, renewals, onRenewed: reporter.poke }, signal));
    manager.addRunnable(reporter.run);
    runWorkloads({ manager, client, containerd, node: identity.name, stateDir: flags['state-dir'], ...(flags['runc-root'] ? { runcRoot: flags['runc-root'] } : {}), logger: log.child({ subsystem: 'runtime' }) });
    return runUntilSignalled(manager, async () => {
        await logs?.close();
        containerd.close();
        await client.close();
    });
}
