// Resolves the control-plane binaries (kube-apiserver, kubectl, etcd) built by hack/build-k8s.sh.
// Versions come from hack/versions.env; SHOAL_KUBE_APISERVER, SHOAL_KUBECTL, SHOAL_ETCD and
// SHOAL_CACHE (default ~/.cache/shoal) override the locations.
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Binaries {
  kubeApiserver: string;
  kubectl: string;
  etcd: string;
  /** Kubernetes version without the leading "v", e.g. "1.35.4". */
  k8sVersion: string;
  /** etcd version without the leading "v", e.g. "3.6.16". */
  etcdVersion: string;
}

export const versionsFile = join(import.meta.dirname, 'versions.env');

/** Parses KEY=VALUE lines (comments and blank lines ignored) of hack/versions.env. */
export function readVersions(file: string = versionsFile): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim().replace(/^["']|["']$/g, '');
  }
  return out;
}

function executable(path: string, what: string, envVar: string): string {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new Error(
      `${what} not found or not executable at ${path}: run \`make tools\` (hack/build-k8s.sh) to build it, or set ${envVar} to an existing binary`,
    );
  }
}

/** Returns absolute paths of the binaries, throwing an error that names `make tools` if one is missing. */
export function binaries(env: NodeJS.ProcessEnv = process.env): Binaries {
  const versions = readVersions();
  const k8sVersion = env['K8S_VERSION'] || versions['K8S_VERSION'];
  const etcdVersion = env['ETCD_VERSION'] || versions['ETCD_VERSION'];
  if (!k8sVersion || !etcdVersion) throw new Error(`K8S_VERSION and ETCD_VERSION must be set in ${versionsFile}`);
  const cache = env['SHOAL_CACHE'] || join(homedir(), '.cache', 'shoal');
  const k8sBin = join(cache, 'bin', `v${k8sVersion}`);
  return {
    kubeApiserver: executable(env['SHOAL_KUBE_APISERVER'] || join(k8sBin, 'kube-apiserver'), 'kube-apiserver', 'SHOAL_KUBE_APISERVER'),
    kubectl: executable(env['SHOAL_KUBECTL'] || join(k8sBin, 'kubectl'), 'kubectl', 'SHOAL_KUBECTL'),
    etcd: executable(env['SHOAL_ETCD'] || join(cache, 'bin', `etcd-v${etcdVersion}`, 'etcd'), 'etcd', 'SHOAL_ETCD'),
    k8sVersion,
    etcdVersion,
  };
}
