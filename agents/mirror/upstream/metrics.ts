// Upstream metrics of the mirror's pull-through path, on a prom-client Registry passed in: bytes and fetches
// per registry, readers that shared another reader's fetch, and the spool's disk use.
import { Counter, Gauge, type Registry } from 'prom-client';

/** ok, not_found (404), denied (401/403 after the anonymous token flow), error (network, 5xx), integrity (digest or length mismatch), spool_full. */
export type UpstreamResult = 'ok' | 'not_found' | 'denied' | 'error' | 'integrity' | 'spool_full';

/** Registry label values kept at most (as in ../metrics.ts): the registry comes from peers' requests. */
const maxRegistryLabels = 64;

export class UpstreamMetrics {
  readonly bytes: Counter<'registry'>;
  readonly requests: Counter<'registry' | 'result'>;
  readonly coalescedReaders: Counter;
  readonly spoolBytes: Gauge;
  readonly #registries = new Set<string>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.bytes = new Counter({
      name: 'shoal_mirror_upstream_bytes_total',
      help: 'Body bytes received from upstream registries (blobs, including resumed parts, and manifests).',
      labelNames: ['registry'],
      registers,
    });
    this.requests = new Counter({
      name: 'shoal_mirror_upstream_requests_total',
      help: 'Upstream fetches of a blob or manifest (one per shared flight, resumes included), by registry and result.',
      labelNames: ['registry', 'result'],
      registers,
    });
    this.coalescedReaders = new Counter({
      name: 'shoal_mirror_coalesced_readers_total',
      help: 'Readers served from a fetch already in flight or spooled, instead of a new upstream request.',
      registers,
    });
    this.spoolBytes = new Gauge({ name: 'shoal_mirror_upstream_spool_bytes', help: 'Disk reserved by upstream spool files (in flight and completed).', registers });
  }

  /** The registry label for `registry`: itself for the first 64 seen, then `other`. */
  registryLabel(registry: string): string {
    if (this.#registries.has(registry)) return registry;
    if (this.#registries.size >= maxRegistryLabels) return 'other';
    this.#registries.add(registry);
    return registry;
  }
}
