// controller-runtime's default limiter: max(per-item exponential 5 ms → 1000 s, global token bucket 10 qps / burst 100).
import { backoffDelay } from "./backoff.js";
export class ItemExponentialRateLimiter {
    #failures = new Map();
    #options;
    constructor(options = {}) {
        this.#options = { baseMs: 5, maxMs: 1_000_000, jitter: 0.1, random: Math.random, ...options };
    }
    when(key) {
        const attempt = this.#failures.get(key) ?? 0;
        this.#failures.set(key, attempt + 1);
        const { baseMs, maxMs, jitter, random } = this.#options;
        return backoffDelay(attempt, { initialMs: baseMs, maxMs, jitter, random });
    }
    forget(key) {
        this.#failures.delete(key);
    }
    retries(key) {
        return this.#failures.get(key) ?? 0;
    }
}
/** A global token bucket: each `when` reserves a token and returns the wait until it is available. */
export class TokenBucketRateLimiter {
    #qps;
    #burst;
    #now;
    #tokens;
    #last;
    constructor(options = {}) {
        this.#qps = options.qps ?? 10;
        this.#burst = options.burst ?? 100;
        this.#now = options.now ?? (() => performance.now());
        this.#tokens = this.#burst;
        this.#last = this.#now();
    }
    when() {
        const now = this.#now();
        this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#qps);
        this.#last = now;
        this.#tokens -= 1;
        return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#qps) * 1000;
    }
    forget() { }
    retries() {
        return 0;
    }
}
export class MaxOfRateLimiter {
    #limiters;
    constructor(...limiters) {
        this.#limiters = limiters;
    }
    when(key) {
        return Math.max(0, ...this.#limiters.map((limiter) => limiter.when(key)));
    }
    forget(key) {
        for (const limiter of this.#limiters)
            limiter.forget(key);
    }
    retries(key) {
        return Math.max(0, ...this.#limiters.map((limiter) => limiter.retries(key)));
    }
}
export function defaultControllerRateLimiter() {
    return new MaxOfRateLimiter(new ItemExponentialRateLimiter(), new TokenBucketRateLimiter());
}
