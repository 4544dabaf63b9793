// The binding cycle, as in kube-scheduler: decisions are made one at a time and accounted at once
// (NodeAccounting.assume); the status writes that make them real run here, up to `limit` at a time, so a decision
// never waits for the API server and throughput is no longer workers ÷ write latency.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../runtime/log.ts';

export type WriteKind = 'bind' | 'unschedulable';

/** Called once a write settled: `err` undefined on success; `wantedAgain` if the key was asked for meanwhile. */
export type Settled = (err: unknown, wantedAgain: boolean) => void;

export interface BinderOptions {
  /** Writes in flight at most. */
  limit: number;
  registry?: Registry | undefined;
  logger: Logger;
}

export class Binder {
  readonly limit: number;
  readonly #log: Logger;
  readonly #running = new Map<string, Promise<void>>();
  readonly #wantedAgain = new Set<string>();
  #waiters: (() => void)[] = [];
  readonly #inFlight: Gauge;
  readonly #writes: Counter<'kind' | 'result'>;
  readonly #duration: Histogram<'kind'>;

  constructor(options: BinderOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1) throw new Error(`binder limit must be a positive integer, got ${options.limit}`);
    this.limit = options.limit;
    this.#log = options.logger;
    const registers = options.registry ? [options.registry] : [];
    this.#inFlight = new Gauge({ name: 'shoal_scheduler_writes_in_flight', help: 'Scheduler status writes (bindings and unschedulable reasons) in flight', registers });
    this.#writes = new Counter({ name: 'shoal_scheduler_writes_total', help: 'Scheduler status writes by kind and result', labelNames: ['kind', 'result'], registers });
    this.#duration = new Histogram({
      name: 'shoal_scheduler_write_duration_seconds',
      help: 'Scheduler status write latency by kind',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }

  get inFlight(): number {
    return this.#running.size;
  }

  /** True while a write for `key` is in flight; the key is then remembered and reported to the write's `settled`. */
  deferIfBusy(key: string): boolean {
    if (!this.#running.has(key)) return false;
    this.#wantedAgain.add(key);
    return true;
  }

  /** Resolves true once fewer than `limit` writes are in flight, false if `signal` aborts first. */
  async whenFree(signal: AbortSignal): Promise<boolean> {
    while (this.#running.size >= this.limit) {
      if (signal.aborted) return false;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal.removeEventListener('abort', wake);
          this.#waiters = this.#waiters.filter((w) => w !== wake);
          resolve();
        };
        this.#waiters.push(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
    return !signal.aborted;
  }

  /** Starts `write` for `key` without waiting for it; one write per key at a time (check `deferIfBusy` first). */
  start(key: string, kind: WriteKind, write: () => Promise<unknown>, settled: Settled): void {
    if (this.#running.has(key)) throw new Error(`a scheduler write for ${key} is already in flight`);
    const began = performance.now();
    this.#inFlight.inc();
    const run = (async (): Promise<void> => {
      let failure: unknown;
      try {
        await write();
      } catch (err) {
        failure = err ?? new Error('write failed');
      }
      this.#duration.observe({ kind }, (performance.now() - began) / 1000);
      this.#writes.inc({ kind, result: failure === undefined ? 'success' : 'error' });
      this.#inFlight.dec();
      this.#running.delete(key);
      const wantedAgain = this.#wantedAgain.delete(key);
      this.#waiters[0]?.();
      try {
        settled(failure, wantedAgain);
      } catch (err) {
        this.#log.error('scheduler write callback failed', { err, key, kind });
      }
    })();
    this.#running.set(key, run);
  }

  /** Waits for every write in flight (on shutdown or loss of leadership). */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.values());
  }
}
