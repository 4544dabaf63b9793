// The manager runs a process's informers, controllers, probes and metrics, gating controllers on leadership.
import type { Server } from 'node:http';
import { SharedInformers } from './informer.ts';
import type { KubeClient } from './kube.ts';
import { LeaderElector, type LeaderElectionOptions } from './leader.ts';
import type { Logger } from './log.ts';
import { RuntimeMetrics } from './metrics.ts';
import { closeServer, metricsRoute, probe, serve, type Check } from './http.ts';

export type Runnable = (signal: AbortSignal) => Promise<void>;

export interface ManagerOptions {
  client: KubeClient;
  logger: Logger;
  metrics?: RuntimeMetrics;
  /** Omit to run without leader election (a single replica, or tests). */
  leaderElection?: Omit<LeaderElectionOptions, 'client' | 'logger' | 'metrics'>;
  metricsBindAddress?: string;
  healthBindAddress?: string;
  /** How long to wait for caches before giving up, like controller-runtime's CacheSyncTimeout. */
  cacheSyncTimeoutMs?: number;
}

export class Manager {
  readonly client: KubeClient;
  readonly logger: Logger;
  readonly metrics: RuntimeMetrics;
  readonly informers: SharedInformers;
  readonly #options: ManagerOptions;
  readonly #leaderRunnables: Runnable[] = [];
  readonly #runnables: Runnable[] = [];
  readonly #servers: Server[] = [];
  readonly #readyChecks: Record<string, Check> = { informers: () => (this.informers.synced ? undefined : 'caches not synced') };
  readonly #healthChecks: Record<string, Check> = { ping: () => undefined };
  #elector: LeaderElector | undefined;
  #leading = false;
  metricsPort: number | undefined;
  healthPort: number | undefined;

  constructor(options: ManagerOptions) {
    this.#options = options;
    this.client = options.client;
    this.logger = options.logger;
    this.metrics = options.metrics ?? new RuntimeMetrics();
    this.informers = new SharedInformers(options.client, { logger: options.logger, metrics: this.metrics });
  }

  /** Adds work that runs only on the leader (controllers). */
  addLeaderRunnable(run: Runnable): void {
    this.#leaderRunnables.push(run);
  }

  /** Adds work that runs on every replica. */
  addRunnable(run: Runnable): void {
    this.#runnables.push(run);
  }

  /** Adds a /readyz check: it returns a problem, or undefined when ready. */
  addReadyCheck(name: string, check: Check): void {
    this.#readyChecks[name] = check;
  }

  addHealthCheck(name: string, check: Check): void {
    this.#healthChecks[name] = check;
  }

  get leading(): boolean {
    return this.#leading;
  }

  get identity(): string | undefined {
    return this.#elector?.identity;
  }

  /**
   * Runs until the signal aborts (resolves) or leadership is lost (rejects, so the process exits and restarts
   * with empty state, as controller-runtime does).
   */
  async start(signal: AbortSignal): Promise<void> {
    // Everything runs under our own signal, so a failure anywhere stops every other loop too.
    const stop = new AbortController();
    const forward = (): void => stop.abort();
    signal.addEventListener('abort', forward, { once: true });
    const tasks: Promise<void>[] = [];
    try {
      await this.#startServers();
      tasks.push(this.informers.run(stop.signal), ...this.#runnables.map((run) => run(stop.signal)));
      const syncDeadline = AbortSignal.any([stop.signal, AbortSignal.timeout(this.#options.cacheSyncTimeoutMs ?? 120_000)]);
      if (!(await this.informers.waitForSync(syncDeadline)) && !stop.signal.aborted) {
        throw new Error('timed out waiting for informer caches to sync');
      }
      this.logger.info('caches synced');
      if (await this.#lead(stop.signal, tasks)) throw new Error('leader election lost');
    } finally {
      stop.abort();
      signal.removeEventListener('abort', forward);
      await Promise.allSettled(tasks);
      await Promise.all(this.#servers.map(closeServer));
    }
  }

  /** Runs the leader-only runnables while leading; returns true if leadership was lost. */
  async #lead(signal: AbortSignal, tasks: Promise<void>[]): Promise<boolean> {
    if (!this.#options.leaderElection) {
      this.#leading = true;
      tasks.push(...this.#leaderRunnables.map((run) => run(signal)));
      await Promise.all(tasks);
      return false;
    }
    this.#elector = new LeaderElector({ ...this.#options.leaderElection, client: this.client, logger: this.logger, metrics: this.metrics });
    const leaderTasks: Promise<void>[] = [];
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

  async #startServers(): Promise<void> {
    const { metricsBindAddress = '0', healthBindAddress = '0' } = this.#options;
    const metrics = await serve(metricsBindAddress, { '/metrics': metricsRoute(this.metrics.registry) });
    const health = await serve(healthBindAddress, {
      '/healthz': probe(this.#healthChecks),
      '/readyz': probe(this.#readyChecks),
    });
    for (const started of [metrics, health]) if (started) this.#servers.push(started.server);
    this.metricsPort = metrics?.port;
    this.healthPort = health?.port;
    this.logger.info('serving', { metricsPort: this.metricsPort, healthPort: this.healthPort });
  }
}

/** Runs `manager` until SIGTERM/SIGINT (exit code 0) or a failure (1), then runs `cleanup`. */
export async function runUntilSignalled(manager: Manager, cleanup: () => Promise<void> | void): Promise<number> {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    manager.logger.info('shutting down', { signal });
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await manager.start(stop.signal);
    manager.logger.info('stopped');
    return 0;
  } catch (err) {
    manager.logger.error('failed', { err });
    return 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await cleanup();
  }
}
