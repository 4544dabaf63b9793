import { SharedInformers } from "./informer.js";
import { LeaderElector } from "./leader.js";
import { RuntimeMetrics } from "./metrics.js";
import { closeServer, metricsRoute, probe, serve } from "./http.js";
export class Manager {
    client;
    logger;
    metrics;
    informers;
    #options;
    #leaderRunnables = [];
    #runnables = [];
    #servers = [];
    #readyChecks = { informers: () => (this.informers.synced ? undefined : 'caches not synced') };
    #healthChecks = { ping: () => undefined };
    #elector;
    #leading = false;
    metricsPort;
    healthPort;
    constructor(options) {
        this.#options = options;
        this.client = options.client;
        this.logger = options.logger;
        this.metrics = options.metrics ?? new RuntimeMetrics();
        this.informers = new SharedInformers(options.client, { logger: options.logger, metrics: this.metrics });
    }
    /** Adds work that runs only on the leader (controllers). */
    addLeaderRunnable(run) {
        this.#leaderRunnables.push(run);
    }
    /** Adds work that runs on every replica. */
    addRunnable(run) {
        this.#runnables.push(run);
    }
    /** Adds a /readyz check: it returns a problem, or undefined when ready. */
    addReadyCheck(name, check) {
        this.#readyChecks[name] = check;
    }
    addHealthCheck(name, check) {
        this.#healthChecks[name] = check;
    }
    get leading() {
        return this.#leading;
    }
    get identity() {
        return this.#elector?.identity;
    }
    /**
     * Runs until the signal aborts (resolves) or leadership is lost (rejects, so the process exits and restarts
     * with empty state, as controller-runtime does).
     */
    async start(signal) {
        // Everything runs under our own signal, so a failure anywhere stops every other loop too.
        const stop = new AbortController();
        const forward = () => stop.abort();
        signal.addEventListener('abort', forward, { once: true });
        const tasks = [];
        try {
            await this.#startServers();
            tasks.push(this.informers.run(stop.signal), ...this.#runnables.map((run) => run(stop.signal)));
            const syncDeadline = AbortSignal.any([stop.signal, AbortSignal.timeout(this.#options.cacheSyncTimeoutMs ?? 120_000)]);
            if (!(await this.informers.waitForSync(syncDeadline)) && !stop.signal.aborted) {
                throw new Error('timed out waiting for informer caches to sync');
            }
            this.logger.info('caches synced');
            if (await this.#lead(stop.signal, tasks))
                throw new Error('leader election lost');
        }
        finally {
            stop.abort();
            signal.removeEventListener('abort', forward);
            await Promise.allSettled(tasks);
            await Promise.all(this.#servers.map(closeServer));
        }
    }
    /** Runs the leader-only runnables while leading; returns true if leadership was lost. */
    async #lead(signal, tasks) {
        if (!this.#options.leaderElection) {
            this.#leading = true;
            tasks.push(...this.#leaderRunnables.map((run) => run(signal)));
            await Promise.all(tasks);
            return false;
        }
        this.#elector = new LeaderElector({ ...this.#options.leaderElection, client: this.client, logger: this.logger, metrics: this.metrics });
        const leaderTasks = [];
        const lost = await this.#elector.run(signal, {
            onStartedLeading: (leading) => {
                this.#leading = true;
                leaderTasks.push(...this.#leaderRunnables.map((run) => run(leading)));
            },
            onStoppedLeading: () => {
                this.#leading = false;
            },
        });
        await Promise.all(leaderTasks);
        return lost;
    }
    async #startServers() {
        const { metricsBindAddress = '0', healthBindAddress = '0' } = this.#options;
        const metrics = await serve(metricsBindAddress, { '/metrics': metricsRoute(this.metrics.registry) });
        const health = await serve(healthBindAddress, {
            '/healthz': probe(this.#healthChecks),
            '/readyz': probe(this.#readyChecks),
        });
        for (const started of [metrics, health])
            if (started)
                this.#servers.push(started.server);
        this.metricsPort = metrics?.port;
        this.healthPort = health?.port;
        this.logger.info('serving', { metricsPort: this.metricsPort, healthPort: this.healthPort });
    }
}
/** Runs `manager` until SIGTERM/SIGINT (exit code 0) or a failure (1), then runs `cleanup`. */
export async function runUntilSignalled(manager, cleanup) {
    const stop = new AbortController();
    const onSignal = (signal) => {
        manager.logger.info('shutting down', { signal });
        stop.abort();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    try {
        await manager.start(stop.signal);
        manager.logger.info('stopped');
        return 0;
    }
    catch (err) {
        manager.logger.error('failed', { err });
        return 1;
    }
    finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        await cleanup();
    }
}
