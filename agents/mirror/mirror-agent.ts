// The mirror subsystem of one agent, assembled: identity → libp2p DHT (membership from Node CRs) → advertiser,
// the two HTTP listeners (containerd-facing on loopback, peer-facing with signed requests), the peer source,
// and the MirrorPolicy side (hosts.toml, preheat, MirrorReady). agents/main.ts only calls startMirrorAgent.
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { nodeType, type Node } from '../../operator/src/api/generated/types.ts';
import type { Logger } from '../../operator/src/runtime/log.ts';
import type { Manager } from '../../operator/src/runtime/manager.ts';
import type { ContainerdClient } from '../runtime/containerd/client.ts';
import { ContainerdSource } from './containerd-source.ts';
import { canonicalRegistry } from './keys.ts';
import { MirrorListener } from './mirror-listener.ts';
import type { MirrorRuntimeProvider } from './mirror-status.ts';
import { Advertiser, type ImageFilter } from './p2p/advertiser.ts';
import { DhtResolver } from './p2p/dht-resolver.ts';
import { PeerDirectory } from './p2p/directory.ts';
import { loadOrCreateIdentity } from './p2p/identity.ts';
import { followNodes } from './p2p/node-members.ts';
import { P2PNode } from './p2p/node.ts';
import { PeerAuthenticator, PeerSigner } from './peer-auth.ts';
import { PeerSource, peerDispatcher } from './peer-source.ts';
import { startMirrorPolicyAgent, type MirrorPolicyAgent } from './policy-agent.ts';
import type { EffectiveMirrorConfig } from './policy.ts';
import { MirrorServer } from './server.ts';
import { DigestOwners } from './upstream/owners.ts';
import { UpstreamMetrics } from './upstream/metrics.ts';
import { RegistryClient } from './upstream/registry-client.ts';
import { UpstreamFetcher } from './upstream/single-flight.ts';
import { UpstreamSource } from './upstream/upstream-source.ts';

export interface MirrorAgentOptions {
  manager: Manager;
  /** Our Node's name. */
  node: string;
  containerd: ContainerdClient;
  /** Holds the libp2p identity (`<stateDir>/p2p/identity.key`), which must survive restarts. */
  stateDir: string;
  /** containerd's registry config_path, where hosts.toml files go. */
  certsDir: string;
  /** containerd's content store directory, when readable: blobs are served from their files (containerd-source.ts). */
  contentDir?: string;
  /** The containerd-facing listener: a loopback `host:port`, or undefined to follow the policy's mirrorPort on 127.0.0.1. */
  internalBind: { host: string; port: number } | undefined;
  /** The peer-facing listener's bind address. */
  peerBind: { host: string; port: number };
  /** The address other agents reach the peer listener at (published in Node status.mirror.endpoint). */
  advertiseHost: string;
  /** libp2p listen multiaddrs, and the ones to publish instead (empty: the listen addresses). */
  p2pListen: string[];
  p2pAnnounce: string[];
  logger: Logger;
  metrics: Registry;
}

export interface MirrorAgent {
  /** The policy side; `status` is what the Node status reporter publishes. */
  policy: MirrorPolicyAgent;
  run(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export async function startMirrorAgent(options: MirrorAgentOptions): Promise<MirrorAgent> {
  const { logger, metrics, containerd } = options;
  const identity = await loadOrCreateIdentity(options.stateDir);
  logger.info('p2p identity', { peerId: identity.peerId.toString(), created: identity.created });

  const directory = new PeerDirectory();
  followNodes(options.manager.informers.for<Node>(nodeType), directory, logger.child({ part: 'directory' }));
  const p2p = new P2PNode({ identity, listen: options.p2pListen, ...(options.p2pAnnounce.length ? { announce: options.p2pAnnounce } : {}), directory, logger: logger.child({ part: 'p2p' }), metrics });
  await p2p.start();
  const resolver = new DhtResolver({ node: p2p, directory, logger: logger.child({ part: 'resolver' }), metrics });
  // Nothing is advertised under a tag until a policy says which registries this node mirrors.
  const advertiser = new Advertiser({ containerd, publisher: p2p, logger: logger.child({ part: 'advertiser' }), metrics, imageFilter: () => false });

  const local = new ContainerdSource({ client: containerd, logger: logger.child({ part: 'containerd-source' }), ...(options.contentDir ? { contentDir: options.contentDir } : {}) });
  const signer = new PeerSigner(identity.privateKey);
  // One connection pool for every request to a peer, whether found in the DHT or as a digest's owner.
  const peerPool = peerDispatcher();
  const peers = new PeerSource({ resolver, signer, dispatcher: peerPool, logger: logger.child({ part: 'peer-source' }), metrics });
  // Cold-pull coalescing: one node per digest fetches it upstream and streams it to the others (upstream/).
  let mirrored = new Set<string>();
  const owners = new DigestOwners(directory, signer.peerId);
  const upstreamMetrics = new UpstreamMetrics(metrics);
  const fetcher = await UpstreamFetcher.create({
    client: new RegistryClient({ logger: logger.child({ part: 'upstream' }), metrics: upstreamMetrics }),
    spoolDir: join(options.stateDir, 'mirror-spool'),
    logger: logger.child({ part: 'upstream' }),
    metrics: upstreamMetrics,
  });
  const upstream = new UpstreamSource({ fetcher, isOwner: (digest) => owners.isOwner(digest), allowRegistry: (registry) => mirrored.has(canonicalRegistry(registry)) });
  // The owner may first have to reach upstream: its answer can take longer than a peer's.
  const owner = new PeerSource({ name: 'owner', resolver: owners, forwardOrigin: true, signer, dispatcher: peerPool, health: peers.health, retries: 0, requestTimeoutMs: 30_000, logger: logger.child({ part: 'owner-source' }), metrics });
  const peerServer = new MirrorServer({
    sources: [local, upstream],
    logger: logger.child({ listener: 'peer' }),
    metrics,
    peerAuth: new PeerAuthenticator({ selfPeerId: signer.peerId, isMember: (id) => directory.has(id) }),
  });
  const peerPort = await peerServer.listen(options.peerBind.port, options.peerBind.host);
  const endpoint = `http://${bracketed(options.advertiseHost)}:${peerPort}`;
  const internal = new MirrorListener(() => new MirrorServer({ sources: [local, peers, upstream, owner], logger: logger.child({ listener: 'internal' }), metrics }), logger);
  if (options.internalBind) await internal.bind(options.internalBind.port, options.internalBind.host);

  const runtime: MirrorRuntimeProvider = {
    servingProblem: () => internal.problem() ?? (peerServer.listening ? undefined : 'the peer listener is closed'),
    endpoint: () => endpoint,
    peer: () => ({ id: p2p.peerId.toString(), addresses: p2p.addresses() }),
    advertised: () => advertiser.counts(),
    lastSuccessTime: () => peerServer.lastSuccessTime,
  };
  const policy = startMirrorPolicyAgent({
    manager: options.manager,
    node: options.node,
    containerd,
    certsDir: options.certsDir,
    runtime,
    logger,
    metrics,
    mirrorUrl: (config) => internal.url(config.mirrorPort),
  });

  const apply = async (config: EffectiveMirrorConfig | undefined): Promise<void> => {
    advertiser.setImageFilter(tagFilter(config));
    mirrored = new Set((config?.registries ?? []).map((r) => canonicalRegistry(r.host)));
    if (!config) return;
    const tags = { resolveTags: config.resolveTags, resolveLatest: config.resolveLatest };
    peerServer.configure(tags);
    internal.configure(tags);
    peers.configure({ resolveTimeoutMs: config.resolveTimeoutMs, retries: config.resolveRetries });
    resolver.configure({ timeoutMs: config.resolveTimeoutMs, retries: config.resolveRetries });
    if (!options.internalBind) await internal.bind(config.mirrorPort, '127.0.0.1');
    policy.status.changed();
  };
  policy.policy.onChange((config) => {
    apply(config).catch((err: unknown) => logger.error('applying the mirror policy failed', { err }));
  });

  return {
    policy,
    async run(signal) {
      await Promise.all([advertiser.start(), policy.run(signal)]);
    },
    async close() {
      // Withdraw first, so peers stop asking while the listeners still answer.
      await advertiser.stop();
      resolver.stop();
      await Promise.all([peerServer.close(), internal.close()]);
      await peerPool.close();
      await fetcher.close();
      await p2p.stop();
    },
  };
}

/** Tag keys (`<registry>/<repo>:<tag>`) are advertised only for the registries and tag rules of the policy. */
export function tagFilter(config: EffectiveMirrorConfig | undefined): ImageFilter {
  if (!config) return () => false;
  const registries = new Map(config.registries.map((r) => [canonicalRegistry(r.host), r]));
  return (name) => {
    const slash = name.indexOf('/');
    const colon = name.lastIndexOf(':');
    if (slash <= 0 || colon < slash) return false;
    const registry = registries.get(canonicalRegistry(name.slice(0, slash)));
    if (!registry?.resolveTags) return false;
    return name.slice(colon + 1) !== 'latest' || registry.resolveLatest;
  };
}

function bracketed(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
