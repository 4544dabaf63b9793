// A Node's `allocated` status is for people (`kubectl get snode`); the scheduler decides from its own accounting.
// So those writes yield to bindings and are paced by one token bucket: in a burst a dirty node waits (at most
// `maxDeferMs` for the burst to pass, then for a token), and every binding that lands on it meanwhile is folded
// into that one write, instead of costing the API server a write per bind.
import { TokenBucketRateLimiter } from '../runtime/ratelimiter.ts';

export interface AllocatedPacerOptions {
  perSecond: number;
  burst: number;
  /** How long a node's write may wait for the scheduler to go idle before it takes a token anyway. */
  maxDeferMs: number;
  /** How often a deferred node checks again. */
  recheckMs: number;
  now?: () => number;
}

export class AllocatedPacer {
  readonly #bucket: TokenBucketRateLimiter;
  readonly #options: AllocatedPacerOptions;
  readonly #now: () => number;
  readonly #dirtySince = new Map<string, number>();
  readonly #due = new Map<string, number>();

  constructor(options: AllocatedPacerOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#bucket = new TokenBucketRateLimiter({ qps: options.perSecond, burst: options.burst, now: this.#now });
  }

  /** Milliseconds until `node` may write; `busy` while bindings are in flight. A node holds one token at most. */
  waitFor(node: string, busy: boolean): number {
    const now = this.#now();
    let due = this.#due.get(node);
    if (due === undefined) {
      const since = this.#dirtySince.get(node) ?? now;
      this.#dirtySince.set(node, since);
      if (busy && now - since < this.#options.maxDeferMs) return Math.min(this.#options.recheckMs, since + this.#options.maxDeferMs - now);
      due = now + this.#bucket.when();
      this.#due.set(node, due);
    }
    return Math.max(0, due - now);
  }

  /** `node` wrote (or needs no write any more): its next change starts afresh. */
  release(node: string): void {
    this.#due.delete(node);
    this.#dirtySince.delete(node);
  }

  get waiting(): number {
    return this.#dirtySince.size;
  }
}
