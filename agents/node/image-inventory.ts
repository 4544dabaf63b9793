// The images this node's containerd holds (CRI ListImages), for Node status.images: the scheduler's image
// locality score reads it. Refreshed when containerd reports an image event in CRI's namespace (debounced)
// and every few minutes in case an event was missed; never on the heartbeat.
import { isDeepStrictEqual } from 'node:util';
import { Counter, type Registry } from 'prom-client';
import { Backoff, sleep } from '../../operator/src/runtime/backoff.ts';
import type { Logger } from '../../operator/src/runtime/log.ts';
import type { ContainerdClient } from '../runtime/containerd/client.ts';
import type { CriImage } from '../runtime/containerd/cri.ts';
import { criNamespace } from '../runtime/containerd/cri.ts';
import { and, namespaceEquals, topicMatches } from '../runtime/containerd/filters.ts';
import type { NodeImage } from './registration.ts';

/** crds/shoal.dev_nodes.yaml: status.images maxItems, and names maxItems per image. */
export const maxNodeImages = 500;
const maxNamesPerImage = 16;
const sha256Digest = /^sha256:[a-f0-9]{64}$/;

/**
 * CRI images → status.images: keyed by the manifest (or index) digest from the repo digests, falling back to
 * the image id; names are the tags and digest references; largest first, then by digest, capped at 500.
 */
export function nodeImages(images: readonly CriImage[]): NodeImage[] {
  const byDigest = new Map<string, { names: Set<string>; sizeBytes: number }>();
  for (const image of images) {
    const digests = image.repoDigests.map((r) => r.slice(r.indexOf('@') + 1)).filter((d) => sha256Digest.test(d)).sort();
    const digest = digests[0] ?? (sha256Digest.test(image.id) ? image.id : undefined);
    if (!digest) continue;
    const entry = byDigest.get(digest) ?? { names: new Set<string>(), sizeBytes: 0 };
    for (const name of [...image.repoTags, ...image.repoDigests]) if (name.length <= 512) entry.names.add(name);
    entry.sizeBytes = Math.max(entry.sizeBytes, image.size);
    byDigest.set(digest, entry);
  }
  return [...byDigest.entries()]
    .map(([digest, { names, sizeBytes }]) => ({ digest, names: [...names].sort().slice(0, maxNamesPerImage), sizeBytes }))
    .sort((a, b) => b.sizeBytes - a.sizeBytes || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0))
    .slice(0, maxNodeImages);
}

export interface ImageInventoryOptions {
  containerd: ContainerdClient;
  logger: Logger;
  metrics: Registry;
  /** Full relist period; default 5 min. */
  resyncMs?: number;
  /** Events arriving within this window cause one relist; default 1 s (a pull creates several records). */
  debounceMs?: number;
}

export class ImageInventory {
  readonly #options: ImageInventoryOptions;
  readonly #refreshes: Counter<'result'>;
  readonly #listeners: (() => void)[] = [];
  #images: NodeImage[] | undefined;
  #dirty = true;
  #wake: (() => void) | undefined;

  constructor(options: ImageInventoryOptions) {
    this.#options = options;
    this.#refreshes = new Counter({ name: 'shoal_agent_image_list_refreshes_total', help: 'CRI image list refreshes for Node status.images, by result', labelNames: ['result'], registers: [options.metrics] });
  }

  /** undefined until the first list succeeded. */
  images(): NodeImage[] | undefined {
    return this.#images;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Asks for a relist soon (e.g. after the runtime pulled or removed an image). */
  refresh(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  /** Runs the event subscription and the relist loop until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.#watchEvents(signal), this.#relistLoop(signal)]);
  }

  async #relistLoop(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 1_000, maxMs: 60_000 });
    const resyncMs = this.#options.resyncMs ?? 300_000;
    while (!signal.aborted) {
      if (this.#dirty) {
        this.#dirty = false;
        try {
          const listed = nodeImages(await this.#options.containerd.cri.listImages({ timeoutMs: 10_000 }));
          this.#refreshes.inc({ result: 'success' });
          backoff.reset();
          if (!isDeepStrictEqual(listed, this.#images)) {
            this.#images = listed;
            for (const listener of [...this.#listeners]) listener();
          }
        } catch (err) {
          this.#refreshes.inc({ result: 'error' });
          this.#dirty = true;
          this.#options.logger.warn('listing images failed', { err });
          await sleep(backoff.next(), signal);
          continue;
        }
      }
      if (!this.#dirty) {
        const resync = setTimeout(() => this.refresh(), resyncMs);
        await Promise.race([sleep(resyncMs + 1_000, signal), new Promise<void>((resolve) => (this.#wake = resolve))]);
        clearTimeout(resync);
        this.#wake = undefined;
      }
      await sleep(this.#options.debounceMs ?? 1_000, signal);
    }
  }

  async #watchEvents(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 1_000, maxMs: 30_000 });
    while (!signal.aborted) {
      const stream = this.#options.containerd.events.subscribe([and(namespaceEquals(criNamespace), topicMatches('/images/'))], { timeoutMs: null });
      const cancel = (): void => stream.cancel();
      signal.addEventListener('abort', cancel, { once: true });
      try {
        for await (const _event of stream) {
          backoff.reset();
          this.refresh();
        }
      } catch (err) {
        if (!signal.aborted) this.#options.logger.debug('image event stream ended', { err });
      } finally {
        signal.removeEventListener('abort', cancel);
      }
      if (signal.aborted) return;
      // Events are not replayed after a reconnect: relist.
      this.refresh();
      await sleep(backoff.next(), signal);
    }
  }
}
