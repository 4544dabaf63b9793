// DhtResolver: the mirror's Resolver over the DHT. A key's providers are looked up once (single flight, cached a
// few seconds) and filtered at every use, so a cached answer never yields a peer that has since left, gone
// unready or lost its connection. Each wait for the next peer is bounded by the policy's resolveTimeout.
import type { Registry } from 'prom-client';
import type { Logger } from '../../../operator/src/runtime/log.ts';
import type { ContentKey, Resolver } from '../resolver.ts';
import type { PeerDirectory } from './directory.ts';
import { p2pMetrics, type P2PMetrics } from './metrics.ts';
import { peerUrl } from '../protocol.ts';

/** What the resolver needs from the libp2p node (P2PNode satisfies it). */
export interface ProviderFinder {
  readonly peerId: { toString(): string };
  findProviders(key: ContentKey, signal: AbortSignal): AsyncIterable<string>;
  isConnected(peerId: string): boolean;
}

export interface ResolveSettings {
  /** MirrorPolicy resolveTimeout: the longest wait for the next provider, ms. Default 20. */
  timeoutMs: number;
  /** MirrorPolicy resolveRetries: peers yielded after the first (at most 1 + retries in all). Default 3. */
  retries: number;
}

export interface DhtResolverOptions extends Partial<ResolveSettings> {
  node: ProviderFinder;
  directory: PeerDirectory;
  logger: Logger;
  metrics: Registry;
  /** How long a lookup that found providers is reused; default 5 s (Spegel's lookup cache). */
  cacheTtlMs?: number;
  /** How long a lookup that found nothing is reused; default 0 (not cached: a key just provided must resolve). */
  negativeCacheTtlMs?: number;
  /** Deadline of one DHT lookup running in the background; default 5 s. */
  lookupTimeoutMs?: number;
  /** Keys remembered at most; default 4096. */
  cacheSize?: number;
}

/** One findProviders query, shared by every resolve() of its key while it runs and while it is cached. */
class Lookup {
  readonly providers: string[] = [];
  done = false;
  finishedAt = 0;
  readonly #waiters = new Set<() => void>();

  constructor(finder: ProviderFinder, key: ContentKey, signal: AbortSignal, log: Logger) {
    void this.#run(finder, key, signal, log);
  }

  async #run(finder: ProviderFinder, key: ContentKey, signal: AbortSignal, log: Logger): Promise<void> {
    try {
      for await (const peer of finder.findProviders(key, signal)) {
        if (this.providers.includes(peer)) continue;
        this.providers.push(peer);
        this.#notify();
      }
    } catch (err) {
      if (!signal.aborted) log.debug('provider lookup failed', { key, err });
    } finally {
      this.done = true;
      this.finishedAt = Date.now();
      this.#notify();
    }
  }

  /** Resolves true once more than `seen` providers are known, false when the lookup ends first, `ms` pass or `signal` aborts. */
  waitForMore(seen: number, ms: number, signal: AbortSignal): Promise<boolean> {
    if (this.providers.length > seen) return Promise.resolve(true);
    if (this.done || signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        this.#waiters.delete(check);
        resolve(this.providers.length > seen);
      };
      const check = (): void => {
        if (this.providers.length > seen || this.done) finish();
      };
      const timer = setTimeout(finish, ms);
      signal.addEventListener('abort', finish, { once: true });
      this.#waiters.add(check);
    });
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

export class DhtResolver implements Resolver {
  readonly #options: DhtResolverOptions;
  readonly #metrics: P2PMetrics;
  readonly #log: Logger;
  readonly #lookups = new Map<ContentKey, Lookup>();
  readonly #stop = new AbortController();
  #settings: ResolveSettings;

  constructor(options: DhtResolverOptions) {
    this.#options = options;
    this.#metrics = p2pMetrics(options.metrics);
    this.#log = options.logger.child({ component: 'dht-resolver' });
    this.#settings = validSettings({ timeoutMs: options.timeoutMs ?? 20, retries: options.retries ?? 3 });
  }

  get settings(): ResolveSettings {
    return { ...this.#settings };
  }

  /** Applies a MirrorPolicy's resolveTimeout / resolveRetries at runtime (next resolve() on). */
  configure(settings: Partial<ResolveSettings>): void {
    this.#settings = validSettings({ ...this.#settings, ...settings });
  }

  /** Ends the background lookups (agent shutdown). */
  stop(): void {
    this.#stop.abort();
    this.#lookups.clear();
  }

  async *resolve(key: ContentKey, signal: AbortSignal): AsyncIterable<URL> {
    const began = performance.now();
    const { timeoutMs, retries } = this.#settings;
    const lookup = this.#lookup(key);
    const yielded = new Set<string>();
    let seen = 0;
    try {
      while (yielded.size <= retries && !signal.aborted) {
        while (seen < lookup.providers.length && yielded.size <= retries) {
          const peer = lookup.providers[seen++];
          const url = peer === undefined ? undefined : this.#usable(peer);
          if (!url || yielded.has(url.href)) continue;
          if (yielded.size === 0) this.#metrics.resolveDuration.observe({ result: 'found' }, (performance.now() - began) / 1000);
          yielded.add(url.href);
          yield url;
        }
        if (yielded.size > retries || !(await lookup.waitForMore(seen, timeoutMs, signal))) break;
      }
    } finally {
      if (yielded.size === 0) this.#metrics.resolveDuration.observe({ result: 'not_found' }, (performance.now() - began) / 1000);
    }
  }

  // The peer's mirror URL if it may be asked now: not us, a member, not unready, published an endpoint, connected.
  #usable(peer: string): URL | undefined {
    if (peer === this.#options.node.peerId.toString()) return undefined;
    const member = this.#options.directory.get(peer);
    if (!member?.ready || !member.endpoint) return undefined;
    if (!this.#options.node.isConnected(peer)) return undefined;
    // The peer ID rides in the userinfo: the peer source signs each request for its target (protocol.ts).
    return peerUrl(member.endpoint, peer);
  }

  #lookup(key: ContentKey): Lookup {
    const cached = this.#lookups.get(key);
    if (cached && this.#fresh(cached)) return cached;
    if (cached) this.#lookups.delete(key);
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(this.#options.lookupTimeoutMs ?? 5000)]);
    const lookup = new Lookup(this.#options.node, key, signal, this.#log);
    this.#lookups.set(key, lookup);
    const limit = this.#options.cacheSize ?? 4096;
    for (const oldest of this.#lookups.keys()) {
      if (this.#lookups.size <= limit) break;
      this.#lookups.delete(oldest);
    }
    return lookup;
  }

  #fresh(lookup: Lookup): boolean {
    if (!lookup.done) return true;
    const ttl = lookup.providers.length > 0 ? (this.#options.cacheTtlMs ?? 5000) : (this.#options.negativeCacheTtlMs ?? 0);
    return Date.now() - lookup.finishedAt < ttl;
  }
}

function validSettings(settings: ResolveSettings): ResolveSettings {
  if (!Number.isFinite(settings.timeoutMs) || settings.timeoutMs <= 0) throw new Error(`resolve timeout must be positive, got ${settings.timeoutMs}`);
  if (!Number.isInteger(settings.retries) || settings.retries < 0) throw new Error(`resolve retries must be a non-negative integer, got ${settings.retries}`);
  return settings;
}
