// Exponential backoff with jitter, shared by every retry loop (informer restarts, workqueue, leader election).
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** Fraction of the delay added at random, so restarts across processes do not align. */
  jitter?: number;
  random?: () => number;
}

export class Backoff {
  readonly #options: Required<BackoffOptions>;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    this.#options = { factor: 2, jitter: 0.2, random: Math.random, ...options };
  }

  get attempts(): number {
    return this.#attempt;
  }

  /** The delay before the next retry; each call grows the next one. */
  next(): number {
    const delay = backoffDelay(this.#attempt, this.#options);
    this.#attempt++;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}

export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const { initialMs, maxMs, factor = 2, jitter = 0.2, random = Math.random } = options;
  const base = Math.min(maxMs, initialMs * factor ** Math.min(attempt, 64));
  return Math.min(maxMs, base + base * jitter * random());
}

/** Resolves after `ms`, or early (without throwing) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
