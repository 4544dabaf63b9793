// Prometheus metrics with controller-runtime's names, so existing dashboards and alerts work unchanged.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
const reconcileBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60];
const queueBuckets = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];
export class RuntimeMetrics {
    registry;
    reconcileTotal;
    reconcileErrors;
    terminalReconcileErrors;
    reconcilePanics;
    reconcileTime;
    maxConcurrentReconciles;
    activeWorkers;
    leaderStatus;
    leaderSlowpath;
    informerRestarts;
    informerEvents;
    informerObjects;
    #queueDepth;
    #queueAdds;
    #queueRetries;
    #queueLatency;
    #workDuration;
    #queues = [];
    constructor(options = {}) {
        const registry = (this.registry = options.registry ?? new Registry());
        if (options.processMetrics ?? true)
            collectDefaultMetrics({ register: registry });
        const r = [registry];
        this.reconcileTotal = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'], registers: r });
        this.reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'], registers: r });
        this.terminalReconcileErrors = new Counter({ name: 'controller_runtime_terminal_reconcile_errors_total', help: 'Total number of terminal reconciliation errors per controller', labelNames: ['controller'], registers: r });
        this.reconcilePanics = new Counter({ name: 'controller_runtime_reconcile_panics_total', help: 'Total number of reconciliation panics (uncaught exceptions) per controller', labelNames: ['controller'], registers: r });
        this.reconcileTime = new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: ['controller'], buckets: reconcileBuckets, registers: r });
        this.maxConcurrentReconciles = new Gauge({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller', labelNames: ['controller'], registers: r });
        this.activeWorkers = new Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', labelNames: ['controller'], registers: r });
        this.leaderStatus = new Gauge({ name: 'leader_election_master_status', help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master', labelNames: ['name'], registers: r });
        this.leaderSlowpath = new Counter({ name: 'leader_election_slowpath_total', help: 'Total number of slow path exercised in renewing leader leases', labelNames: ['name'], registers: r });
        this.informerRestarts = new Counter({ name: 'shoal_informer_restarts_total', help: 'Informer list/watch restarts by cause (expired = 410 relist, watchdog = silent watch, error = other failures)', labelNames: ['resource', 'reason'], registers: r });
        this.informerEvents = new Counter({ name: 'shoal_informer_events_total', help: 'Watch events received by informers', labelNames: ['resource', 'type'], registers: r });
        this.informerObjects = new Gauge({ name: 'shoal_informer_cached_objects', help: 'Objects held in the informer cache', labelNames: ['resource'], registers: r });
        this.#queueDepth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name', 'controller'], registers: r });
        this.#queueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name', 'controller'], registers: r });
        this.#queueRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name', 'controller'], registers: r });
        this.#queueLatency = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested', labelNames: ['name', 'controller'], buckets: queueBuckets, registers: r });
        this.#workDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes', labelNames: ['name', 'controller'], buckets: queueBuckets, registers: r });
        const queues = this.#queues;
        new Gauge({
            name: 'workqueue_unfinished_work_seconds',
            help: 'How many seconds of work has been done that is in progress and has not been observed by work_duration',
            labelNames: ['name', 'controller'],
            registers: r,
            collect() {
                for (const q of queues)
                    this.set({ name: q.name, controller: q.name }, q.inFlight().unfinishedSeconds);
            },
        });
        new Gauge({
            name: 'workqueue_longest_running_processor_seconds',
            help: 'How many seconds has the longest running processor for workqueue been running',
            labelNames: ['name', 'controller'],
            registers: r,
            collect() {
                for (const q of queues)
                    this.set({ name: q.name, controller: q.name }, q.inFlight().longestSeconds);
            },
        });
    }
    /** Pre-initialises a controller's series to 0, as controller-runtime does, so rates work from the first scrape. */
    initController(controller, concurrency) {
        for (const result of ['success', 'error', 'requeue', 'requeue_after'])
            this.reconcileTotal.inc({ controller, result }, 0);
        this.reconcileErrors.inc({ controller }, 0);
        this.terminalReconcileErrors.inc({ controller }, 0);
        this.reconcilePanics.inc({ controller }, 0);
        this.maxConcurrentReconciles.set({ controller }, concurrency);
        this.activeWorkers.set({ controller }, 0);
    }
    track(queue) {
        this.#queues.push(queue);
        const labels = { name: queue.name, controller: queue.name };
        this.#queueDepth.set(labels, 0);
        this.#queueAdds.inc(labels, 0);
        this.#queueRetries.inc(labels, 0);
    }
    added(name) {
        this.#queueAdds.inc({ name, controller: name });
    }
    retried(name) {
        this.#queueRetries.inc({ name, controller: name });
    }
    depth(name, depth) {
        this.#queueDepth.set({ name, controller: name }, depth);
    }
    waited(name, seconds) {
        this.#queueLatency.observe({ name, controller: name }, seconds);
    }
    worked(name, seconds) {
        this.#workDuration.observe({ name, controller: name }, seconds);
    }
}
