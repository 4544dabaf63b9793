// The mirror's Prometheus metrics, named after Spegel's (spegel_mirror_requests_total, http_request_duration_seconds,
// http_requests_inflight, http_response_size_bytes) under our shoal_mirror_ prefix, plus the peer data path's
// (bytes per peer, fallbacks, penalties, refused peer requests), on a Registry passed in.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type HandlerLabel = 'base' | 'manifest' | 'blob' | 'other';
export type CacheLabel = 'hit' | 'miss';
/** internal: this node's containerd (or any client without the peer marker); external: another mirror. */
export type SourceLabel = 'internal' | 'external';

/** Why the mirror moved on from a peer (to the next one, or to a 404 so containerd asks upstream). */
export type FallbackReason = 'not-found' | 'timeout' | 'peer-error' | 'digest-mismatch' | 'filtered';
export type PenaltyReason = 'timeout' | 'peer-error' | 'digest-mismatch';

/** Registry label values kept at most: `ns` comes from the network, and every new value is a new series. */
const maxRegistryLabels = 64;
/** Peer label values kept at most; further peers share `other`. */
const maxPeerLabels = 32;

const shared = new WeakMap<Registry, MirrorMetrics>();

/** The one MirrorMetrics of `registry`: both listeners and the peer source register on it once. */
export function mirrorMetrics(registry: Registry): MirrorMetrics {
  let metrics = shared.get(registry);
  if (!metrics) {
    metrics = new MirrorMetrics(registry);
    shared.set(registry, metrics);
  }
  return metrics;
}

export class MirrorMetrics {
  readonly requests: Counter<'registry' | 'cache' | 'source'>;
  readonly duration: Histogram<'handler' | 'method' | 'code'>;
  readonly inflight: Gauge<'handler'>;
  readonly servedBytes: Counter<'handler' | 'source'>;
  readonly sourceErrors: Counter<'source' | 'operation'>;
  readonly peerBytes: Counter<'peer'>;
  readonly fallbacks: Counter<'reason'>;
  readonly penalties: Counter<'reason'>;
  readonly authRefused: Counter<'reason'>;
  readonly lastSuccess: Gauge;
  /** When this node's mirror last served a hit; undefined until the first one. */
  lastSuccessTime: Date | undefined;
  readonly #registries = new Set<string>();
  readonly #peers = new Set<string>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'shoal_mirror_requests_total',
      help: 'Manifest and blob requests by source registry, by whether this mirror could serve them (hit) or answered 404 (miss), and by who asked.',
      labelNames: ['registry', 'cache', 'source'],
      registers,
    });
    this.duration = new Histogram({
      name: 'shoal_mirror_request_duration_seconds',
      help: 'Time from request to the end of the response, by handler, method and status code.',
      labelNames: ['handler', 'method', 'code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.lastSuccess = new Gauge({ name: 'shoal_mirror_last_success_timestamp_seconds', help: 'Unix time of the last request the mirror served (a hit).', registers });
    this.inflight = new Gauge({ name: 'shoal_mirror_requests_inflight', help: 'Requests being served, by handler.', labelNames: ['handler'], registers });
    this.servedBytes = new Counter({
      name: 'shoal_mirror_served_bytes_total',
      help: 'Response body bytes sent (manifests and blobs), by handler and by who asked.',
      labelNames: ['handler', 'source'],
      registers,
    });
    this.sourceErrors = new Counter({
      name: 'shoal_mirror_source_errors_total',
      help: 'Content source failures (containerd unreachable, deadlines, broken streams) answered as misses.',
      labelNames: ['source', 'operation'],
      registers,
    });
    this.peerBytes = new Counter({
      name: 'shoal_mirror_peer_bytes_total',
      help: 'Body bytes received from each peer mirror (the first 32 peers by ID, then other).',
      labelNames: ['peer'],
      registers,
    });
    this.fallbacks = new Counter({
      name: 'shoal_mirror_fallbacks_total',
      help: 'Times the mirror moved on from a peer to the next one or to a 404, by reason (filtered: refused by policy or peer cooling off).',
      labelNames: ['reason'],
      registers,
    });
    this.penalties = new Counter({
      name: 'shoal_mirror_peer_penalties_total',
      help: 'Peers put in cool-off (skipped for a while), by what they did.',
      labelNames: ['reason'],
      registers,
    });
    this.authRefused = new Counter({
      name: 'shoal_mirror_peer_auth_refused_total',
      help: 'Requests refused by the peer listener, by reason (missing, malformed, stale, wrong-target, bad-signature, not-member).',
      labelNames: ['reason'],
      registers,
    });
    for (const handler of ['base', 'manifest', 'blob', 'other'] as const) this.inflight.set({ handler }, 0);
    for (const reason of ['not-found', 'timeout', 'peer-error', 'digest-mismatch', 'filtered'] as const) this.fallbacks.inc({ reason }, 0);
    for (const reason of ['timeout', 'peer-error', 'digest-mismatch'] as const) this.penalties.inc({ reason }, 0);
  }

  /** The peer label for `peer`: itself for the first 32 seen, then `other`. */
  peerLabel(peer: string): string {
    if (this.#peers.has(peer)) return peer;
    if (this.#peers.size >= maxPeerLabels) return 'other';
    this.#peers.add(peer);
    return peer;
  }

  /** The registry label for `registry`: itself for the first 64 seen, then `other`. */
  markSuccess(now = new Date()): void {
    this.lastSuccessTime = now;
    this.lastSuccess.set(now.getTime() / 1000);
  }

  registryLabel(registry: string | undefined): string {
    if (registry === undefined) return 'unknown';
    if (this.#registries.has(registry)) return registry;
    if (this.#registries.size >= maxRegistryLabels) return 'other';
    this.#registries.add(registry);
    return registry;
  }
}
