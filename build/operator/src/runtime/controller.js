import { WorkQueue } from "./workqueue.js";
/** An error that retrying cannot fix (e.g. an invalid spec): logged and counted, not requeued. */
export class TerminalError extends Error {
    name = 'TerminalError';
}
export class Controller {
    name;
    queue;
    #reconcile;
    #log;
    #metrics;
    #concurrency;
    constructor(options) {
        this.name = options.name;
        this.#reconcile = options.reconcile;
        this.#log = options.logger.child({ controller: options.name });
        this.#metrics = options.metrics;
        this.#concurrency = options.concurrency ?? 1;
        this.queue = new WorkQueue({ name: options.name, rateLimiter: options.rateLimiter, metrics: options.metrics });
        this.#metrics?.initController(this.name, this.#concurrency);
    }
    enqueue(key) {
        this.queue.add(key);
    }
    /** Runs the workers until the signal aborts, then drains in-flight reconciles. */
    async run(signal) {
        const stop = () => this.queue.shutDown();
        signal.addEventListener('abort', stop, { once: true });
        this.#log.info('starting workers', { workers: this.#concurrency });
        const workers = Array.from({ length: this.#concurrency }, () => this.#worker(signal));
        await Promise.all(workers);
        signal.removeEventListener('abort', stop);
        this.#log.info('workers stopped');
    }
    async #worker(signal) {
        for (let key = await this.queue.get(); key !== undefined; key = await this.queue.get()) {
            this.#metrics?.activeWorkers.inc({ controller: this.name });
            try {
                await this.#process(key, signal);
            }
            finally {
                this.#metrics?.activeWorkers.dec({ controller: this.name });
                this.queue.done(key);
            }
        }
    }
    async #process(key, signal) {
        const log = this.#log.child({ key });
        const started = performance.now();
        let result;
        try {
            result = await this.#reconcile({ key, log, signal });
        }
        catch (err) {
            this.#metrics?.reconcileTime.observe({ controller: this.name }, (performance.now() - started) / 1000);
            this.#metrics?.reconcileErrors.inc({ controller: this.name });
            this.#metrics?.reconcileTotal.inc({ controller: this.name, result: 'error' });
            if (err instanceof TerminalError) {
                this.#metrics?.terminalReconcileErrors.inc({ controller: this.name });
                log.error('reconcile failed terminally; not requeued', { err });
                this.queue.forget(key);
                return;
            }
            if (!(err instanceof Error))
                this.#metrics?.reconcilePanics.inc({ controller: this.name });
            log.warn('reconcile failed; requeued with backoff', { err, retries: this.queue.retries(key) });
            if (!signal.aborted)
                this.queue.addRateLimited(key);
            return;
        }
        this.#metrics?.reconcileTime.observe({ controller: this.name }, (performance.now() - started) / 1000);
        const requeueAfterMs = result?.requeueAfterMs ?? 0;
        this.queue.forget(key);
        if (requeueAfterMs > 0) {
            this.#metrics?.reconcileTotal.inc({ controller: this.name, result: 'requeue_after' });
            this.queue.addAfter(key, requeueAfterMs);
            return;
        }
        this.#metrics?.reconcileTotal.inc({ controller: this.name, result: 'success' });
    }
}
