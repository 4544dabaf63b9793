// The P2P layer's Prometheus metrics (libp2p membership, dials, the DHT resolver and advertiser), on a Registry
// passed in. Names under shoal_p2p_ (the libp2p node) and shoal_mirror_ (what the mirror does with it).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type DialResult = 'success' | 'failure';
export type Direction = 'inbound' | 'outbound';
export type ResolveResult = 'found' | 'not_found';

export class P2PMetrics {
  readonly connectedPeers: Gauge;
  readonly members: Gauge;
  readonly dials: Counter<'result'>;
  readonly refusedConnections: Counter<'direction'>;
  readonly maintenanceRuns: Counter<'result'>;
  readonly resolveDuration: Histogram<'result'>;
  readonly advertisedKeys: Gauge;
  readonly advertisedImages: Gauge;
  readonly advertiseOperations: Counter<'operation' | 'result'>;
  readonly advertiserRestarts: Counter<'reason'>;
  readonly withdrawNotices: Counter<'direction'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.connectedPeers = new Gauge({ name: 'shoal_p2p_connected_peers', help: 'Cluster members this node has at least one open libp2p connection to.', registers });
    this.members = new Gauge({ name: 'shoal_p2p_members', help: 'Cluster members (Nodes with a peer ID) in the peer directory, this node included.', registers });
    this.dials = new Counter({ name: 'shoal_p2p_dials_total', help: 'Dials of cluster members by the maintenance loop, by result.', labelNames: ['result'], registers });
    this.refusedConnections = new Counter({
      name: 'shoal_p2p_refused_connections_total',
      help: 'Connections and dials refused because the remote peer is not a member of the cluster, by direction.',
      labelNames: ['direction'],
      registers,
    });
    this.maintenanceRuns = new Counter({
      name: 'shoal_p2p_maintenance_runs_total',
      help: 'Passes of the membership maintenance loop, by result (ok: every member connected; partial: some are not).',
      labelNames: ['result'],
      registers,
    });
    this.resolveDuration = new Histogram({
      name: 'shoal_mirror_resolve_duration_seconds',
      help: 'Time to the first usable peer (or to giving up) when resolving a key through the DHT, by result.',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.advertisedKeys = new Gauge({ name: 'shoal_mirror_advertised_keys', help: 'Keys (digests and tag keys) this node provides in the DHT.', registers });
    this.advertisedImages = new Gauge({ name: 'shoal_mirror_advertised_images', help: 'Image tag keys this node provides in the DHT.', registers });
    this.advertiseOperations = new Counter({
      name: 'shoal_mirror_advertise_operations_total',
      help: 'DHT provide and withdraw operations of the advertiser, by operation and result.',
      labelNames: ['operation', 'result'],
      registers,
    });
    this.advertiserRestarts = new Counter({
      name: 'shoal_mirror_advertiser_restarts_total',
      help: 'Times the advertiser re-subscribed to containerd events, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.withdrawNotices = new Counter({
      name: 'shoal_p2p_withdraw_notices_total',
      help: 'Withdraw notices (provider records to drop) sent to or received from peers.',
      labelNames: ['direction'],
      registers,
    });
  }
}

const byRegistry = new WeakMap<Registry, P2PMetrics>();

/** The P2P metrics on `registry`, created once: P2PNode, DhtResolver and Advertiser share them. */
export function p2pMetrics(registry: Registry): P2PMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) {
    metrics = new P2PMetrics(registry);
    byRegistry.set(registry, metrics);
  }
  return metrics;
}
