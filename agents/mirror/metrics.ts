// The mirror's Prometheus metrics, named after Spegel's (spegel_mirror_requests_total, http_request_duration_seconds,
// http_requests_inflight, http_response_size_bytes) under our shoal_mirror_ prefix, on a Registry passed in.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type HandlerLabel = 'base' | 'manifest' | 'blob' | 'other';
export type CacheLabel = 'hit' | 'miss';
/** internal: this node's containerd (or any client without the peer marker); external: another mirror. */
export type SourceLabel = 'internal' | 'external';

/** Registry label values kept at most: `ns` comes from the network, and every new value is a new series. */
const maxRegistryLabels = 64;

export class MirrorMetrics {
  readonly requests: Counter<'registry' | 'cache' | 'source'>;
  readonly duration: Histogram<'handler' | 'method' | 'code'>;
  readonly inflight: Gauge<'handler'>;
  readonly servedBytes: Counter<'handler' | 'source'>;
  readonly sourceErrors: Counter<'source' | 'operation'>;
  readonly #registries = new Set<string>();

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
    for (const handler of ['base', 'manifest', 'blob', 'other'] as const) this.inflight.set({ handler }, 0);
  }

  /** The registry label for `registry`: itself for the first 64 seen, then `other`. */
  registryLabel(registry: string | undefined): string {
    if (registry === undefined) return 'unknown';
    if (this.#registries.has(registry)) return registry;
    if (this.#registries.size >= maxRegistryLabels) return 'other';
    this.#registries.add(registry);
    return registry;
  }
}
