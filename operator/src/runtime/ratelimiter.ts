// controller-runtime's default limiter: max(per-item exponential 5 ms → 1000 s, global token bucket 10 qps / burst 100).
import { backoffDelay } from './backoff.ts';

export interface RateLimiter {
  /** How long to wait before processing `key` again; calling it records one more failure. */
  when(key: string): number;
  forget(key: string): void;
  retries(key: string): number;
}

export interface ItemExponentialOptions {
  baseMs?: number;
  maxMs?: number;
  jitter?: number;
  random?: () => number;
}

export class ItemExponentialRateLimiter implements RateLimiter {
  readonly #failures = new Map<string, number>();
  readonly #options: Required<ItemExponentialOptions>;

  constructor(options: ItemExponentialOptions = {}) {
    this.#options = { baseMs: 5, maxMs: 1_000_000, jitter: 0.1, random: Math.random, ...options };
  }

  when(key: string): number {
    const attempt = this.#failures.get(key) ?? 0;
    this.#failures.set(key, attempt + 1);
    const { baseMs, maxMs, jitter, random } = this.#options;
    return backoffDelay(attempt, { initialMs: baseMs, maxMs, jitter, random });
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}

export interface TokenBucketOptions {
  qps?: number;
  burst?: number;
  now?: () => number;
}

/** A global token bucket: each `when` reserves a token and returns the wait until it is available. */
export class TokenBucketRateLimiter implements RateLimiter {
  readonly #qps: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(options: TokenBucketOptions = {}) {
    this.#qps = options.qps ?? 10;
    this.#burst = options.burst ?? 100;
    this.#now = options.now ?? (() => performance.now());
    this.#tokens = this.#burst;
    this.#last = this.#now();
  }

  when(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#qps);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#qps) * 1000;
  }

  forget(): void {}

  retries(): number {
    return 0;
  }
}

export class MaxOfRateLimiter implements RateLimiter {
  readonly #limiters: RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.#limiters = limiters;
  }

  when(key: string): number {
    return Math.max(0, ...this.#limiters.map((limiter) => limiter.when(key)));
  }

  forget(key: string): void {
    for (const limiter of this.#limiters) limiter.forget(key);
  }

  retries(key: string): number {
    return Math.max(0, ...this.#limiters.map((limiter) => limiter.retries(key)));
  }
}

export function defaultControllerRateLimiter(): RateLimiter {
  return new MaxOfRateLimiter(new ItemExponentialRateLimiter(), new TokenBucketRateLimiter());
}
