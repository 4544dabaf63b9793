// Preheat: pulls the spec.preheat images of the policies selecting this node ahead of use, through CRI, so
// the pull goes through hosts.toml and the mirror like a workload's would. One pull at a time (a node's
// bandwidth is better spent finishing one image), retried with backoff; images already present are Completed
// at once, and Completed ones are re-checked now and then in case the image was removed or collected.
import { isDeepStrictEqual } from 'node:util';
import { Counter, Gauge, type Registry } from 'prom-client';
import { backoffDelay, sleep } from '../../operator/src/runtime/backoff.ts';
import type { Logger } from '../../operator/src/runtime/log.ts';
import type { ContainerdClient } from '../runtime/containerd/client.ts';

export type PreheatPhase = 'Pending' | 'Pulling' | 'Completed' | 'Failed';

/** One image's progress as the Node reports it (status.mirror.preheat[]). */
export interface PreheatProgress {
  image: string;
  phase: PreheatPhase;
  bytesDone?: number;
  bytesTotal?: number;
  message?: string;
}

export interface PreheaterOptions {
  containerd: ContainerdClient;
  logger: Logger;
  metrics: Registry;
  /** Deadline of one pull; default 10 min. */
  pullTimeoutMs?: number;
  /** Retry delays after failed pulls; default 5 s doubling to 5 min. */
  retry?: { initialMs: number; maxMs: number };
  /** How often Completed images are checked to still be there; default 5 min. */
  recheckMs?: number;
}

interface Entry {
  progress: PreheatProgress;
  failures: number;
  /** Epoch ms when the image is looked at next. */
  due: number;
}

/** The Node status list holds at most this many entries (crds/shoal.dev_nodes.yaml). */
export const maxPreheatEntries = 64;

export class Preheater {
  readonly #containerd: ContainerdClient;
  readonly #log: Logger;
  readonly #pullTimeoutMs: number;
  readonly #retry: { initialMs: number; maxMs: number };
  readonly #recheckMs: number;
  readonly #pulls: Counter<'result'>;
  readonly #listeners: (() => void)[] = [];
  #entries = new Map<string, Entry>();
  #wake: (() => void) | undefined;
  /** The pull in progress, aborted when its image stops being wanted. */
  #pulling: AbortController | undefined;
  #pullingImage: string | undefined;

  constructor(options: PreheaterOptions) {
    this.#containerd = options.containerd;
    this.#log = options.logger;
    this.#pullTimeoutMs = options.pullTimeoutMs ?? 600_000;
    this.#retry = options.retry ?? { initialMs: 5_000, maxMs: 300_000 };
    this.#recheckMs = options.recheckMs ?? 300_000;
    this.#pulls = new Counter({ name: 'shoal_mirror_preheat_pulls_total', help: 'Preheat pulls by result', labelNames: ['result'], registers: [options.metrics] });
    const entries = (): Entry[] => [...this.#entries.values()];
    new Gauge({
      name: 'shoal_mirror_preheat_images',
      help: 'Preheat images of this node by phase',
      labelNames: ['phase'],
      registers: [options.metrics],
      collect() {
        for (const phase of ['Pending', 'Pulling', 'Completed', 'Failed'] as const) this.set({ phase }, entries().filter((e) => e.progress.phase === phase).length);
      },
    });
  }

  /** Sets the images to preheat (sorted; at most maxPreheatEntries are kept). Images that left are forgotten. */
  update(images: readonly string[]): void {
    const wanted = [...new Set(images)].sort().slice(0, maxPreheatEntries);
    if (isDeepStrictEqual(wanted, [...this.#entries.keys()])) return;
    const next = new Map<string, Entry>();
    for (const image of wanted) next.set(image, this.#entries.get(image) ?? { progress: { image, phase: 'Pending' }, failures: 0, due: 0 });
    if (this.#pulling && !next.has(this.#pullingImage ?? '')) this.#pulling.abort();
    this.#entries = next;
    this.#changed();
  }

  /** Progress of every wanted image, sorted by image. */
  progress(): PreheatProgress[] {
    return [...this.#entries.values()].map((e) => ({ ...e.progress }));
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  async run(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => this.#pulling?.abort(), { once: true });
    while (!signal.aborted) {
      const now = Date.now();
      const next = [...this.#entries.values()].find((e) => e.due <= now);
      if (!next) {
        const due = Math.min(...[...this.#entries.values()].map((e) => e.due));
        await Promise.race([sleep(Number.isFinite(due) ? Math.max(0, due - now) : 2_147_483_647, signal), new Promise<void>((resolve) => (this.#wake = resolve))]);
        this.#wake = undefined;
        continue;
      }
      await this.#visit(next, signal);
    }
  }

  async #visit(entry: Entry, signal: AbortSignal): Promise<void> {
    const { image } = entry.progress;
    try {
      const present = await this.#containerd.cri.imageStatus(image, { timeoutMs: 10_000 });
      if (present) return this.#set(entry, { image, phase: 'Completed', bytesDone: present.size, bytesTotal: present.size }, this.#recheckMs, true);
      if (entry.progress.phase === 'Completed') this.#log.info('preheated image is gone; pulling it again', { image });
      this.#set(entry, { image, phase: 'Pulling', ...(entry.progress.message ? { message: entry.progress.message } : {}) }, 0, false);
      const began = performance.now();
      this.#pulling = new AbortController();
      this.#pullingImage = image;
      await this.#containerd.cri.pullImage(image, {}, { timeoutMs: this.#pullTimeoutMs, signal: AbortSignal.any([signal, this.#pulling.signal]) });
      const pulled = await this.#containerd.cri.imageStatus(image, { timeoutMs: 10_000 });
      this.#pulls.inc({ result: 'success' });
      this.#log.info('preheated image', { image, ms: Math.round(performance.now() - began), bytes: pulled?.size });
      this.#set(entry, { image, phase: 'Completed', ...(pulled ? { bytesDone: pulled.size, bytesTotal: pulled.size } : {}) }, this.#recheckMs, true);
    } catch (err) {
      if (signal.aborted || this.#entries.get(image) !== entry) return; // stopping, or no longer wanted
      this.#pulls.inc({ result: 'error' });
      entry.failures++;
      const delay = backoffDelay(entry.failures - 1, this.#retry);
      const message = (err instanceof Error ? err.message : String(err)).slice(0, 1024);
      this.#log.warn('preheat pull failed; retrying', { image, attempt: entry.failures, retryInMs: Math.round(delay), err });
      this.#set(entry, { image, phase: 'Failed', message }, delay, false);
    } finally {
      this.#pulling = undefined;
      this.#pullingImage = undefined;
    }
  }

  #set(entry: Entry, progress: PreheatProgress, dueInMs: number, success: boolean): void {
    if (success) entry.failures = 0;
    entry.due = Date.now() + dueInMs;
    if (isDeepStrictEqual(progress, entry.progress)) return;
    entry.progress = progress;
    this.#changed();
  }

  #changed(): void {
    this.#wake?.();
    for (const listener of [...this.#listeners]) listener();
  }
}
