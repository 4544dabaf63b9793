// An informer with client-go reflector semantics: list, then watch from the list's resourceVersion;
// 410 Gone → relist, emitting deletes for objects that vanished; other errors → backoff and resume;
// a watchdog restarts a watch that has gone silent (half-open TCP, client-node issues #364/#596).
import { Backoff, sleep, type BackoffOptions } from './backoff.ts';
import { KubeApiError, isGone, type KubeApi, type KubeStatus, type Query, type WatchEvent } from './kube.ts';
import type { Logger } from './log.ts';
import type { RuntimeMetrics } from './metrics.ts';
import { apiVersionOf, objectKey, resourcePath, type KubeList, type KubeObject, type ResourceType } from './resource.ts';

export interface EventHandler<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  logger: Logger;
  metrics?: RuntimeMetrics;
  /** Server-side watch timeout; randomised per watch like client-go (5–10 min) so watches do not reconnect in step. */
  watchTimeoutSeconds?: () => number;
  /** The watchdog: a watch with no event (bookmarks included) for this long is restarted. */
  silenceTimeoutMs?: number;
  backoff?: BackoffOptions;
  pageSize?: number;
}

class WatchExpiredError extends Error {}
class WatchSilentError extends Error {}

const randomWatchTimeout = (): number => 300 + Math.floor(Math.random() * 300);

export class Informer<T extends KubeObject> {
  readonly type: ResourceType;
  readonly #client: KubeApi;
  readonly #options: InformerOptions;
  readonly #log: Logger;
  readonly #handlers: EventHandler<T>[] = [];
  #cache = new Map<string, T>();
  #resourceVersion: string | undefined;
  #synced = false;
  #syncWaiters: (() => void)[] = [];

  constructor(client: KubeApi, type: ResourceType, options: InformerOptions) {
    this.#client = client;
    this.type = type;
    this.#options = options;
    this.#log = options.logger.child({ informer: this.resourceLabel });
  }

  get resourceLabel(): string {
    return this.type.group ? `${this.type.plural}.${this.type.group}` : this.type.plural;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Registers a handler; objects already cached are replayed to it as adds. */
  addHandler(handler: EventHandler<T>): void {
    this.#handlers.push(handler);
    for (const obj of this.#cache.values()) this.#call(handler, 'add', obj);
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  waitForSync(signal: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onAbort = (): void => resolve(false);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#syncWaiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      });
    });
  }

  /** Runs until the signal aborts; never throws. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.#options.backoff ?? { initialMs: 800, maxMs: 30_000 });
    while (!signal.aborted) {
      try {
        if (this.#resourceVersion === undefined) await this.#relist(signal);
        const sawEvents = await this.#watch(signal);
        if (sawEvents) backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof WatchExpiredError || isGone(err)) {
          this.#restarted('expired', err);
          this.#resourceVersion = undefined;
          continue;
        }
        if (err instanceof WatchSilentError) {
          this.#restarted('watchdog', err);
          continue;
        }
        this.#restarted('error', err);
        await sleep(backoff.next(), signal);
      }
    }
  }

  #restarted(reason: string, err: unknown): void {
    this.#options.metrics?.informerRestarts.inc({ resource: this.resourceLabel, reason });
    const log = reason === 'error' ? this.#log.warn : this.#log.info;
    log(`restarting list/watch`, { reason, err, resourceVersion: this.#resourceVersion });
  }

  #selectors(): Query {
    return { labelSelector: this.#options.labelSelector, fieldSelector: this.#options.fieldSelector };
  }

  async #relist(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let resourceVersion = '';
    let continueToken: string | undefined;
    do {
      const page = await this.#client.request<KubeList<T>>('GET', resourcePath(this.type, this.#options.namespace), {
        query: { ...this.#selectors(), limit: this.#options.pageSize ?? 500, continue: continueToken },
        signal,
      });
      items.push(...page.items);
      resourceVersion = page.metadata.resourceVersion ?? '';
      continueToken = page.metadata.continue || undefined;
    } while (continueToken);
    this.#replace(items);
    this.#resourceVersion = resourceVersion;
    this.#log.debug('listed', { count: items.length, resourceVersion });
    this.#markSynced();
  }

  // Swaps in a fresh list, emitting add/update for what changed and delete for what vanished meanwhile.
  #replace(items: T[]): void {
    const previous = this.#cache;
    const next = new Map<string, T>();
    for (const item of items) next.set(objectKey(item), this.#typed(item));
    this.#cache = next;
    for (const [key, obj] of next) {
      const old = previous.get(key);
      if (!old) this.#emit('add', obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.#emit('update', obj, old);
    }
    for (const [key, old] of previous) if (!next.has(key)) this.#emit('delete', old);
    this.#options.metrics?.informerObjects.set({ resource: this.resourceLabel }, next.size);
  }

  /** Watches until the server ends the watch; returns whether any event arrived. */
  async #watch(signal: AbortSignal): Promise<boolean> {
    const timeoutSeconds = (this.#options.watchTimeoutSeconds ?? randomWatchTimeout)();
    const silenceMs = this.#options.silenceTimeoutMs ?? 90_000;
    const watchdog = new AbortController();
    const stream = await this.#client.watch<T | KubeStatus>(
      resourcePath(this.type, this.#options.namespace),
      { ...this.#selectors(), resourceVersion: this.#resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
      AbortSignal.any([signal, watchdog.signal]),
    );
    let timer = setTimeout(() => watchdog.abort(), silenceMs);
    let sawEvents = false;
    try {
      for await (const event of stream.events) {
        clearTimeout(timer);
        timer = setTimeout(() => watchdog.abort(), silenceMs);
        sawEvents = true;
        this.#apply(event);
      }
    } catch (err) {
      if (watchdog.signal.aborted && !signal.aborted) throw new WatchSilentError(`no watch event for ${silenceMs} ms`);
      throw err;
    } finally {
      clearTimeout(timer);
      stream.abort();
    }
    if (watchdog.signal.aborted && !signal.aborted) throw new WatchSilentError(`no watch event for ${silenceMs} ms`);
    return sawEvents;
  }

  #apply(event: WatchEvent<T | KubeStatus>): void {
    this.#options.metrics?.informerEvents.inc({ resource: this.resourceLabel, type: event.type });
    if (event.type === 'ERROR') {
      const status = event.object as KubeStatus;
      if (status.code === 410) throw new WatchExpiredError(status.message ?? 'resource version expired');
      throw new KubeApiError(status.code ?? 500, status.message ?? 'watch error', status.reason ?? '', status);
    }
    const obj = this.#typed(event.object as T);
    this.#resourceVersion = obj.metadata.resourceVersion ?? this.#resourceVersion;
    if (event.type === 'BOOKMARK') return;
    const key = objectKey(obj);
    const old = this.#cache.get(key);
    if (event.type === 'DELETED') {
      this.#cache.delete(key);
      this.#emit('delete', obj);
    } else {
      this.#cache.set(key, obj);
      if (old) this.#emit('update', obj, old);
      else this.#emit('add', obj);
    }
    this.#options.metrics?.informerObjects.set({ resource: this.resourceLabel }, this.#cache.size);
  }

  // List items carry no apiVersion/kind; cached objects always do, whichever way they arrived.
  #typed(obj: T): T {
    obj.apiVersion ??= apiVersionOf(this.type);
    obj.kind ??= this.type.kind;
    return obj;
  }

  #emit(kind: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const handler of this.#handlers) this.#call(handler, kind, obj, old);
  }

  // Handlers only enqueue keys; one that throws must not stop the informer or the other handlers.
  #call(handler: EventHandler<T>, kind: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    try {
      if (kind === 'add') handler.add?.(obj);
      else if (kind === 'update') handler.update?.(old ?? obj, obj);
      else handler.delete?.(obj);
    } catch (err) {
      this.#log.error('event handler failed', { err, event: kind, key: objectKey(obj) });
    }
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const wake of waiters) wake();
  }
}

/** One informer per resource type and selector, shared by every controller in the process (the shared cache). */
export class SharedInformers {
  readonly #client: KubeApi;
  readonly #defaults: Omit<InformerOptions, 'namespace' | 'labelSelector' | 'fieldSelector'>;
  readonly #informers = new Map<string, Informer<KubeObject>>();
  #running: { signal: AbortSignal; tasks: Promise<void>[] } | undefined;

  constructor(client: KubeApi, defaults: Omit<InformerOptions, 'namespace' | 'labelSelector' | 'fieldSelector'>) {
    this.#client = client;
    this.#defaults = defaults;
  }

  for<T extends KubeObject>(type: ResourceType, selection: Pick<InformerOptions, 'namespace' | 'labelSelector' | 'fieldSelector'> = {}): Informer<T> {
    const key = [type.group, type.version, type.plural, selection.namespace, selection.labelSelector, selection.fieldSelector].join('|');
    let informer = this.#informers.get(key);
    if (!informer) {
      informer = new Informer<KubeObject>(this.#client, type, { ...this.#defaults, ...selection });
      this.#informers.set(key, informer);
      if (this.#running) this.#running.tasks.push(informer.run(this.#running.signal));
    }
    return informer as unknown as Informer<T>;
  }

  /** Starts every informer (and any created later); resolves when all have stopped. */
  async run(signal: AbortSignal): Promise<void> {
    this.#running = { signal, tasks: [...this.#informers.values()].map((informer) => informer.run(signal)) };
    while (true) {
      const tasks = this.#running.tasks.length;
      await Promise.all(this.#running.tasks);
      if (this.#running.tasks.length === tasks) return;
    }
  }

  async waitForSync(signal: AbortSignal): Promise<boolean> {
    const results = await Promise.all([...this.#informers.values()].map((informer) => informer.waitForSync(signal)));
    return results.every(Boolean);
  }

  get synced(): boolean {
    return [...this.#informers.values()].every((informer) => informer.synced);
  }
}
