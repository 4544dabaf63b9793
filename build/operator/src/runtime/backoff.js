export class Backoff {
    #options;
    #attempt = 0;
    constructor(options) {
        this.#options = { factor: 2, jitter: 0.2, random: Math.random, ...options };
    }
    get attempts() {
        return this.#attempt;
    }
    /** The delay before the next retry; each call grows the next one. */
    next() {
        const delay = backoffDelay(this.#attempt, this.#options);
        this.#attempt++;
        return delay;
    }
    reset() {
        this.#attempt = 0;
    }
}
export function backoffDelay(attempt, options) {
    const { initialMs, maxMs, factor = 2, jitter = 0.2, random = Math.random } = options;
    const base = Math.min(maxMs, initialMs * factor ** Math.min(attempt, 64));
    return Math.min(maxMs, base + base * jitter * random());
}
/** Resolves after `ms`, or early (without throwing) when the signal aborts. */
export function sleep(ms, signal) {
    return new Promise((resolve) => {
        if (signal?.aborted)
            return resolve();
        const timer = setTimeout(done, ms);
        function done() {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            resolve();
        }
        signal?.addEventListener('abort', done, { once: true });
    });
}
