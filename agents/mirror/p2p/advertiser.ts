// Advertiser: keeps the DHT in step with this node's containerd (namespace k8s.io, where CRI pulls). It provides
// every sha256 digest of the content store and every image tag key (the image record name, keys.ts tagKey) that
// the image filter accepts; withdraws what disappears. Sources: an initial walk, containerd events, a periodic
// resync (events are not replayed after a disconnect) and a full withdrawal on stop.
import type { Registry } from 'prom-client';
import { Backoff, sleep, type BackoffOptions } from '../../../operator/src/runtime/backoff.ts';
import type { Logger } from '../../../operator/src/runtime/log.ts';
import type { EventEnvelope } from '../../runtime/containerd/events.ts';
import { and, namespaceEquals, topicMatches } from '../../runtime/containerd/filters.ts';
import type { CallOptions, Stream } from '../../runtime/containerd/rpc.ts';
import type { ContentKey } from '../resolver.ts';
import { isSha256Digest } from '../routes.ts';
import { p2pMetrics, type P2PMetrics } from './metrics.ts';

/** The part of ContainerdClient the advertiser uses (ContainerdClient on namespace k8s.io satisfies it). */
export interface AdvertisedStore {
  readonly namespace: string;
  content: { list(filters?: string[], options?: CallOptions): Promise<{ digest: string }[]> };
  images: { list(filters?: string[], options?: CallOptions): Promise<{ name: string }[]> };
  events: { subscribe(filters?: string[], options?: CallOptions): Stream<EventEnvelope> };
}

/** Where keys are published (P2PNode satisfies it). */
export interface KeyPublisher {
  provide(key: ContentKey, signal: AbortSignal): Promise<void>;
  withdraw(keys: readonly ContentKey[], signal: AbortSignal): Promise<void>;
}

/** Decides which image names (tag keys such as `docker.io/library/busybox:1.36`) are advertised. */
export type ImageFilter = (imageName: string) => boolean;

export interface AdvertiserOptions {
  containerd: AdvertisedStore;
  publisher: KeyPublisher;
  logger: Logger;
  metrics: Registry;
  /** Initial image filter; default: every image. Digests are not filtered (see README.md). */
  imageFilter?: ImageFilter;
  /** Full re-walk interval; default 5 min. */
  resyncIntervalMs?: number;
  /** Reconnect backoff when the event stream breaks; default 500 ms doubling to 30 s. */
  backoff?: BackoffOptions;
  /** DHT provide operations in flight at once; default 8. */
  provideConcurrency?: number;
  /** Deadline of one provide (the local record is written at once; this bounds reaching peers); default 30 s. */
  provideTimeoutMs?: number;
  /** Deadline of containerd list calls; default 30 s. */
  listTimeoutMs?: number;
  /** Deadline of the withdrawal on stop(); default 5 s. */
  stopTimeoutMs?: number;
}

export interface AdvertisedCounts {
  /** Digests and tag keys provided. */
  keys: number;
  /** Tag keys (image records) provided. */
  images: number;
}

type KeyKind = 'digest' | 'tag';

/** Image record names that are tag keys: `<registry>/<repository>:<tag>` (not `…@sha256:…`, not a bare image ID). */
export function isTagKey(name: string): boolean {
  return /^[^@\s]+\/[^@\s/]+:[\w][\w.-]{0,127}$/.test(name);
}

export class Advertiser {
  readonly #options: AdvertiserOptions;
  readonly #metrics: P2PMetrics;
  readonly #log: Logger;
  readonly #advertised = new Map<ContentKey, KeyKind>();
  #filter: ImageFilter;
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;
  /** Serializes every change of #advertised (events, resyncs, filter changes, stop). */
  #queue: Promise<void> = Promise.resolve();
  #contentRefreshQueued = false;
  #synced = false;
  readonly #syncWaiters = new Set<() => void>();

  constructor(options: AdvertiserOptions) {
    this.#options = options;
    this.#metrics = p2pMetrics(options.metrics);
    this.#log = options.logger.child({ component: 'advertiser' });
    this.#filter = options.imageFilter ?? (() => true);
  }

  counts(): AdvertisedCounts {
    let images = 0;
    for (const kind of this.#advertised.values()) if (kind === 'tag') images++;
    return { keys: this.#advertised.size, images };
  }

  /** Whether `key` is currently provided by this node. */
  advertises(key: ContentKey): boolean {
    return this.#advertised.has(key);
  }

  /** Replaces the image filter (the MirrorPolicy's registries and tag rules) and re-applies it at once. */
  setImageFilter(filter: ImageFilter): void {
    this.#filter = filter;
    if (this.#stop && !this.#stop.signal.aborted) this.#schedule('filter', (signal) => this.#resync(signal));
  }

  start(): void {
    if (this.#loop) return;
    this.#stop = new AbortController();
    this.#loop = this.#run(this.#stop.signal);
  }

  /** Resolves after the first complete walk (true), or false if `signal` aborts first. */
  waitForSync(signal: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean) => (): void => {
        signal.removeEventListener('abort', aborted);
        this.#syncWaiters.delete(synced);
        resolve(value);
      };
      const aborted = done(false);
      const synced = done(true);
      signal.addEventListener('abort', aborted, { once: true });
      this.#syncWaiters.add(synced);
    });
  }

  /** Stops following containerd and withdraws every key. */
  async stop(): Promise<void> {
    if (!this.#loop) return;
    this.#stop?.abort();
    await this.#loop;
    await this.#queue;
    this.#loop = undefined;
    const keys = [...this.#advertised.keys()];
    this.#advertised.clear();
    this.#updateGauges();
    if (keys.length === 0) return;
    try {
      await this.#options.publisher.withdraw(keys, AbortSignal.timeout(this.#options.stopTimeoutMs ?? 5000));
      this.#metrics.advertiseOperations.inc({ operation: 'withdraw', result: 'success' }, keys.length);
      this.#log.info('withdrew every advertised key', { keys: keys.length });
    } catch (err) {
      this.#metrics.advertiseOperations.inc({ operation: 'withdraw', result: 'failure' }, keys.length);
      this.#log.warn('withdrawal on stop failed; peers drop the records when they expire', { keys: keys.length, err });
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.#options.backoff ?? { initialMs: 500, maxMs: 30_000 });
    const namespace = this.#options.containerd.namespace;
    const filters = [and(namespaceEquals(namespace), topicMatches('/images/')), and(namespaceEquals(namespace), topicMatches('/content/'))];
    const resync = setInterval(() => this.#schedule('periodic', (s) => this.#resync(s)), this.#options.resyncIntervalMs ?? 5 * 60_000);
    try {
      while (!signal.aborted) {
        let reason = 'ended';
        try {
          // Subscribe before walking: events are not replayed, and those that race the walk are applied after it.
          const stream = this.#options.containerd.events.subscribe(filters, { signal, timeoutMs: null });
          try {
            await this.#enqueue('resubscribed', (s) => this.#resync(s));
            this.#markSynced();
            backoff.reset();
            for await (const envelope of stream) {
              backoff.reset();
              this.#onEvent(envelope);
            }
          } finally {
            stream.cancel();
          }
        } catch (err) {
          if (signal.aborted) break;
          reason = 'error';
          this.#log.warn('containerd event stream broke; re-subscribing', { err });
        }
        if (signal.aborted) break;
        this.#metrics.advertiserRestarts.inc({ reason });
        await sleep(backoff.next(), signal);
      }
    } finally {
      clearInterval(resync);
    }
  }

  #onEvent(envelope: EventEnvelope): void {
    const { event, topic } = envelope;
    switch (event.type) {
      case 'ImageCreate':
      case 'ImageUpdate': {
        const name = event.name;
        this.#schedule(topic, async (signal) => {
          if (isTagKey(name) && this.#filter(name)) await this.#provide([{ key: name, kind: 'tag' }], signal);
        });
        this.#queueContentRefresh();
        return;
      }
      case 'ImageDelete': {
        const name = event.name;
        this.#schedule(topic, (signal) => this.#withdraw([name], signal));
        this.#queueContentRefresh();
        return;
      }
      case 'ContentDelete': {
        const digest = event.digest;
        this.#schedule(topic, (signal) => this.#withdraw([digest], signal));
        return;
      }
      default:
        // containerd ≥ 2.1 announces each committed blob on /content/create; 1.6 only has the image events.
        if (topic.startsWith('/content/')) this.#queueContentRefresh();
    }
  }

  // A pull creates up to three image records at once: one content walk covers them all.
  #queueContentRefresh(): void {
    if (this.#contentRefreshQueued) return;
    this.#contentRefreshQueued = true;
    this.#schedule('content', async (signal) => {
      this.#contentRefreshQueued = false;
      await this.#syncDigests(await this.#listDigests(signal), signal);
    });
  }

  /** Queues a job whose failure is only logged (events, timers). */
  #schedule(reason: string, job: (signal: AbortSignal) => Promise<void>): void {
    this.#enqueue(reason, job).catch(() => undefined);
  }

  /** Queues a job after every earlier one; the returned promise rejects if it fails. */
  #enqueue(reason: string, job: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const signal = this.#stop?.signal ?? AbortSignal.abort();
    const next = this.#queue.then(async () => {
      if (signal.aborted) return;
      try {
        await job(signal);
      } catch (err) {
        if (!signal.aborted) this.#log.warn('advertiser update failed', { reason, err });
        throw err;
      }
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #resync(signal: AbortSignal): Promise<void> {
    const timeoutMs = this.#options.listTimeoutMs ?? 30_000;
    const [images, digests] = await Promise.all([this.#options.containerd.images.list([], { signal, timeoutMs }), this.#listDigests(signal)]);
    const tags = new Set(images.map((image) => image.name).filter((name) => isTagKey(name) && this.#filter(name)));
    const stale = [...this.#advertised].filter(([key, kind]) => kind === 'tag' && !tags.has(key)).map(([key]) => key);
    await this.#withdraw(stale, signal);
    await this.#provide([...tags].filter((key) => !this.#advertised.has(key)).map((key) => ({ key, kind: 'tag' as const })), signal);
    await this.#syncDigests(digests, signal);
    this.#log.debug('resynced with containerd', { ...this.counts() });
  }

  async #listDigests(signal: AbortSignal): Promise<Set<string>> {
    const content = await this.#options.containerd.content.list([], { signal, timeoutMs: this.#options.listTimeoutMs ?? 30_000 });
    return new Set(content.map((info) => info.digest).filter(isSha256Digest));
  }

  async #syncDigests(digests: Set<string>, signal: AbortSignal): Promise<void> {
    const stale = [...this.#advertised].filter(([key, kind]) => kind === 'digest' && !digests.has(key)).map(([key]) => key);
    await this.#withdraw(stale, signal);
    await this.#provide([...digests].filter((key) => !this.#advertised.has(key)).map((key) => ({ key, kind: 'digest' as const })), signal);
  }

  async #provide(keys: { key: ContentKey; kind: KeyKind }[], signal: AbortSignal): Promise<void> {
    const fresh = keys.filter(({ key }) => !this.#advertised.has(key));
    if (fresh.length === 0) return;
    // Counted as advertised at once: kad-dht stores our own record before contacting peers, and re-provides it later.
    for (const { key, kind } of fresh) this.#advertised.set(key, kind);
    this.#updateGauges();
    const timeoutMs = this.#options.provideTimeoutMs ?? 30_000;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < fresh.length && !signal.aborted) {
        const item = fresh[next++];
        if (!item) break;
        try {
          await this.#options.publisher.provide(item.key, AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]));
          this.#metrics.advertiseOperations.inc({ operation: 'provide', result: 'success' });
        } catch (err) {
          if (signal.aborted) return;
          this.#metrics.advertiseOperations.inc({ operation: 'provide', result: 'failure' });
          this.#log.debug('provide did not reach peers; the record is re-provided later', { key: item.key, err });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(fresh.length, this.#options.provideConcurrency ?? 8) }, worker));
    this.#log.debug('provided keys', { keys: fresh.length });
  }

  async #withdraw(keys: ContentKey[], signal: AbortSignal): Promise<void> {
    const present = keys.filter((key) => this.#advertised.has(key));
    if (present.length === 0) return;
    for (const key of present) this.#advertised.delete(key);
    this.#updateGauges();
    try {
      await this.#options.publisher.withdraw(present, signal);
      this.#metrics.advertiseOperations.inc({ operation: 'withdraw', result: 'success' }, present.length);
    } catch (err) {
      this.#metrics.advertiseOperations.inc({ operation: 'withdraw', result: 'failure' }, present.length);
      this.#log.warn('withdrawal failed; peers drop the records when they expire', { keys: present.length, err });
    }
    this.#log.debug('withdrew keys', { keys: present });
  }

  #updateGauges(): void {
    const { keys, images } = this.counts();
    this.#metrics.advertisedKeys.set(keys);
    this.#metrics.advertisedImages.set(images);
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    for (const wake of [...this.#syncWaiters]) wake();
  }
}
