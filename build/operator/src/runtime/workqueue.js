import { defaultControllerRateLimiter } from "./ratelimiter.js";
export class WorkQueue {
    name;
    #limiter;
    #metrics;
    #queue = [];
    #dirty = new Set();
    #processing = new Map();
    #addedAt = new Map();
    #waiting = new Map();
    #getters = [];
    #shuttingDown = false;
    constructor(options) {
        this.name = options.name;
        this.#limiter = options.rateLimiter ?? defaultControllerRateLimiter();
        this.#metrics = options.metrics;
        this.#metrics?.track(this);
    }
    get length() {
        return this.#queue.length;
    }
    get shuttingDown() {
        return this.#shuttingDown;
    }
    add(key) {
        if (this.#shuttingDown || this.#dirty.has(key))
            return;
        this.#metrics?.added(this.name);
        this.#dirty.add(key);
        if (this.#processing.has(key))
            return;
        this.#enqueue(key);
    }
    /** Adds `key` after `ms`; of several pending delays for one key the earliest wins. */
    addAfter(key, ms) {
        if (this.#shuttingDown)
            return;
        if (ms <= 0)
            return this.add(key);
        const at = performance.now() + ms;
        const pending = this.#waiting.get(key);
        if (pending && pending.at <= at)
            return;
        if (pending)
            clearTimeout(pending.timer);
        const timer = setTimeout(() => {
            this.#waiting.delete(key);
            this.add(key);
        }, ms);
        timer.unref();
        this.#waiting.set(key, { at, timer });
    }
    addRateLimited(key) {
        this.#metrics?.retried(this.name);
        this.addAfter(key, this.#limiter.when(key));
    }
    forget(key) {
        this.#limiter.forget(key);
    }
    retries(key) {
        return this.#limiter.retries(key);
    }
    /** Waits for the next key; resolves undefined once the queue shuts down. */
    get() {
        const key = this.#take();
        if (key !== undefined || this.#shuttingDown)
            return Promise.resolve(key);
        return new Promise((resolve) => this.#getters.push(resolve));
    }
    done(key) {
        const started = this.#processing.get(key);
        this.#processing.delete(key);
        if (started !== undefined)
            this.#metrics?.worked(this.name, (performance.now() - started) / 1000);
        if (this.#dirty.has(key))
            this.#enqueue(key);
    }
    shutDown() {
        this.#shuttingDown = true;
        for (const { timer } of this.#waiting.values())
            clearTimeout(timer);
        this.#waiting.clear();
        const getters = this.#getters;
        this.#getters = [];
        for (const resolve of getters)
            resolve(undefined);
    }
    /** Seconds of work in progress: the sum and the longest, for controller-runtime's gauges. */
    inFlight() {
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
    #enqueue(key) {
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
    #take() {
        const key = this.#queue.shift();
        if (key === undefined)
            return undefined;
        this.#metrics?.depth(this.name, this.#queue.length);
        const addedAt = this.#addedAt.get(key);
        this.#addedAt.delete(key);
        if (addedAt !== undefined)
            this.#metrics?.waited(this.name, (performance.now() - addedAt) / 1000);
        this.#dirty.delete(key);
        this.#processing.set(key, performance.now());
        return key;
    }
}
