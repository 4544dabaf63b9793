import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
export function credentialsFromKubeConfig(config) {
    const cluster = config.getCurrentCluster();
    if (!cluster)
        throw new Error('kubeconfig has no current cluster');
    const probe = {};
    // TLS material is fixed per kubeconfig; read it once. Headers are re-derived per request.
    const tls = (async () => {
        await config.applyToHTTPSOptions(probe);
        return probe;
    })();
    return {
        server: cluster.server,
        get ca() {
            return probe.ca;
        },
        get cert() {
            return probe.cert;
        },
        get key() {
            return probe.key;
        },
        get rejectUnauthorized() {
            return probe.rejectUnauthorized;
        },
        async headers() {
            await tls;
            const options = {};
            await config.applyToHTTPSOptions(options);
            return Object.fromEntries(Object.entries(options.headers ?? {}).map(([k, v]) => [k, String(v)]));
        },
    };
}
const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';
/** In-cluster config when running in a Pod, else the kubeconfig at `path` (or $KUBECONFIG, or ~/.kube/config). */
export function loadCredentials(path, env = process.env) {
    if (!path && env['KUBERNETES_SERVICE_HOST'] && !env['KUBECONFIG'])
        return inCluster(env);
    const file = path || env['KUBECONFIG']?.split(':')[0] || join(env['HOME'] ?? '/root', '.kube/config');
    return fromKubeconfigFile(file);
}
function inCluster(env) {
    const host = env['KUBERNETES_SERVICE_HOST'] ?? '';
    const port = env['KUBERNETES_SERVICE_PORT'] ?? '443';
    const token = rereadingFile(join(serviceAccountDir, 'token'));
    return {
        server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
        ca: readFileSync(join(serviceAccountDir, 'ca.crt')),
        headers: async () => ({ authorization: `Bearer ${token()}` }),
    };
}
function fromKubeconfigFile(file) {
    const doc = parse(readFileSync(file, 'utf8'));
    const context = doc.contexts?.find((c) => c.name === doc['current-context'])?.context;
    if (!context)
        throw new Error(`${file}: current-context ${JSON.stringify(doc['current-context'])} not found`);
    const cluster = doc.clusters?.find((c) => c.name === context.cluster)?.cluster;
    const user = doc.users?.find((u) => u.name === context.user)?.user ?? {};
    if (!cluster)
        throw new Error(`${file}: cluster ${context.cluster} not found`);
    if (user.exec || user['auth-provider'])
        throw new Error(`${file}: exec and auth-provider credentials need the full loader (run the operator, or use a token or client certificate)`);
    const base = dirname(file);
    const material = (inline, path) => inline ? Buffer.from(inline, 'base64') : path ? readFileSync(isAbsolute(path) ? path : join(base, path)) : undefined;
    const tokenFile = user.tokenFile ? rereadingFile(isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile)) : undefined;
    return {
        server: cluster.server,
        ca: material(cluster['certificate-authority-data'], cluster['certificate-authority']),
        cert: material(user['client-certificate-data'], user['client-certificate']),
        key: material(user['client-key-data'], user['client-key']),
        rejectUnauthorized: cluster['insecure-skip-tls-verify'] ? false : undefined,
        headers: async () => {
            const token = user.token ?? tokenFile?.();
            return token ? { authorization: `Bearer ${token}` } : {};
        },
    };
}
// Projected service-account tokens are rotated on disk; re-read when the file changes.
function rereadingFile(path) {
    let cached = { mtimeMs: -1, value: '' };
    return () => {
        const { mtimeMs } = statSync(path);
        if (mtimeMs !== cached.mtimeMs)
            cached = { mtimeMs, value: readFileSync(path, 'utf8').trim() };
        return cached.value;
    };
}
