// The cluster a kubectl-shoal command talks to, chosen the way kubectl chooses it: --kubeconfig or $KUBECONFIG or
// ~/.kube/config, --context or the current context, -n or the context's namespace or "default".
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../runtime/kube.ts';
import type { Globals } from './command.ts';

export interface CliContext {
  config: KubeConfig;
  client: KubeClient;
  namespace: string;
  allNamespaces: boolean;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export function loadContext(globals: Globals, streams: { out: NodeJS.WritableStream; err: NodeJS.WritableStream }): CliContext {
  const config = new KubeConfig();
  if (globals.kubeconfig) config.loadFromFile(globals.kubeconfig);
  else config.loadFromDefault();
  if (globals.context) {
    if (!config.getContextObject(globals.context)) throw new Error(`context ${JSON.stringify(globals.context)} not found in the kubeconfig`);
    config.setCurrentContext(globals.context);
  }
  if (!config.getCurrentCluster()) throw new Error('no cluster: the kubeconfig has no current context (set one with kubectl config use-context, or pass --context)');
  const namespace = globals.namespace || config.getContextObject(config.getCurrentContext())?.namespace || 'default';
  return { config, client: KubeClient.fromKubeConfig(config), namespace, allNamespaces: globals.allNamespaces, ...streams };
}
