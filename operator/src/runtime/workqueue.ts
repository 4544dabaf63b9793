// A rate-limited work queue with client-go's contract: a key is never processed by two workers at once,
// adds of a queued key coalesce, and a key re-added while processing is queued again once `done`.
import type { RateLimiter } from './ratelimiter.ts';
import { defaultControllerRateLimiter } from './ratelimiter.ts';
import type { WorkqueueMetrics } from './metrics.ts';

export interface WorkQueueOptions {
  name: string;
  rateLimiter?: RateLimiter;
  metrics?: WorkqueueMetrics;
}

export class WorkQueue {
  readonly name: string;
  readonly #limiter: RateLimiter;
  readonly #metrics: WorkqueueMetrics | undefined;
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Map<string, number>();
  readonly #addedAt = new Map<string, number>();
  readonly #waiting = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  #getters: ((key: string | undefined) => void)[] = [];
  #shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.#limiter = options.rateLimiter ?? defaultControllerRateLimiter();
    this.#metrics = options.metrics;
    this.#metrics?.track(this);
  }

  get length(): number {
    return this.#queue.length;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#metrics?.added(this.name);
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#enqueue(key);
  }

  /** Adds `key` after `ms`; of several pending delays for one key the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = performance.now() + ms;
    const pending = this.#waiting.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#waiting.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#waiting.set(key, { at, timer });
  }

  addRateLimited(key: string): void {
    this.#metrics?.retried(this.name);
    this.addAfter(key, this.#limiter.when(key));
  }

  forget(key: string): void {
    this.#limiter.forget(key);
  }

  retries(key: string): number {
    return this.#limiter.retries(key);
  }

  /** Waits for the next key; resolves undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    const key = this.#take();
    if (key !== undefined || this.#shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  done(key: string): void {
    const started = this.#processing.get(key);
    this.#processing.delete(key);
    if (started !== undefined) this.#metrics?.worked(this.name, (performance.now() - started) / 1000);
    if (this.#dirty.has(key)) this.#enqueue(key);
  }

  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#waiting.values()) clearTimeout(timer);
    this.#waiting.clear();
    const getters = this.#getters;
    this.#getters = [];
    for (const resolve of getters) resolve(undefined);
  }

  /** Seconds of work in progress: the sum and the longest, for controller-runtime's gauges. */
  inFlight(): { unfinishedSeconds: number; longestSeconds: number } {
    const now = performance.now();
    let unfinished = 0;
    let longest = 0;
    for (const started of this.#processing.values()) {
      const seconds = (now - started) / 1000;
      unfinished += seconds;
      longest = Math.max(longest, seconds);
    }
    return { unfinishedSeconds: unfinished, longestSeconds: longest };
  }

  #enqueue(key: string): void {
    this.#addedAt.set(key, performance.now());
    const getter = this.#getters.shift();
    if (getter) {
      this.#queue.push(key);
      getter(this.#take());
      return;
    }
    this.#queue.push(key);
    this.#metrics?.depth(this.name, this.#queue.length);
  }

  #take(): string | undefined {
    const key = this.#queue.shift();
    if (key === undefined) return undefined;
    this.#metrics?.depth(this.name, this.#queue.length);
    const addedAt = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    if (addedAt !== undefined) this.#metrics?.waited(this.name, (performance.now() - addedAt) / 1000);
    this.#dirty.delete(key);
    this.#processing.set(key, performance.now());
    return key;
  }
}
