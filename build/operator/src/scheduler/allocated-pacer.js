// A Node's `allocated` status is for people (`kubectl get snode`); the scheduler decides from its own accounting.
// So those writes are paced by one token bucket: in a burst of bindings a dirty node waits for a token, and every
// binding that lands on it meanwhile is folded into that one write, instead of spending API-server capacity per bind.
import { TokenBucketRateLimiter } from "../runtime/ratelimiter.js";
export class AllocatedPacer {
    #bucket;
    #now;
    #due = new Map();
    constructor(options) {
        this.#now = options.now ?? (() => performance.now());
        this.#bucket = new TokenBucketRateLimiter({ qps: options.perSecond, burst: options.burst, now: this.#now });
    }
    /** Milliseconds until `node` may write; its first ask takes a token, later asks wait for that same one. */
    waitFor(node) {
        const now = this.#now();
        let due = this.#due.get(node);
        if (due === undefined) {
            due = now + this.#bucket.when();
            this.#due.set(node, due);
        }
        return Math.max(0, due - now);
    }
    /** `node` wrote (or needs no write any more): its next change takes a new token. */
    release(node) {
        this.#due.delete(node);
    }
    get waiting() {
        return this.#due.size;
    }
}
