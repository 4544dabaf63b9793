// An informer with client-go reflector semantics: list, then watch from the list's resourceVersion;
// 410 Gone → relist, emitting deletes for objects that vanished; other errors → backoff and resume;
// a watchdog restarts a watch that has gone silent (half-open TCP, client-node issues #364/#596).
import { Backoff, sleep } from "./backoff.js";
import { KubeApiError, isGone } from "./kube.js";
import { apiVersionOf, objectKey, resourcePath } from "./resource.js";
class WatchExpiredError extends Error {
}
class WatchSilentError extends Error {
}
const randomWatchTimeout = () => 300 + Math.floor(Math.random() * 300);
export class Informer {
    type;
    #client;
    #options;
    #log;
    #handlers = [];
    #cache = new Map();
    #resourceVersion;
    #synced = false;
    #syncWaiters = [];
    constructor(client, type, options) {
        this.#client = client;
        this.type = type;
        this.#options = options;
        this.#log = options.logger.child({ informer: this.resourceLabel });
    }
    get resourceLabel() {
        return this.type.group ? `${this.type.plural}.${this.type.group}` : this.type.plural;
    }
    get synced() {
        return this.#synced;
    }
    /** Registers a handler; objects already cached are replayed to it as adds. */
    addHandler(handler) {
        this.#handlers.push(handler);
        for (const obj of this.#cache.values())
            this.#call(handler, 'add', obj);
    }
    get(key) {
        return this.#cache.get(key);
    }
    list() {
        return [...this.#cache.values()];
    }
    waitForSync(signal) {
        if (this.#synced)
            return Promise.resolve(true);
        return new Promise((resolve) => {
            const onAbort = () => resolve(false);
            signal.addEventListener('abort', onAbort, { once: true });
            this.#syncWaiters.push(() => {
                signal.removeEventListener('abort', onAbort);
                resolve(true);
            });
        });
    }
    /** Runs until the signal aborts; never throws. */
    async run(signal) {
        const backoff = new Backoff(this.#options.backoff ?? { initialMs: 800, maxMs: 30_000 });
        while (!signal.aborted) {
            try {
                if (this.#resourceVersion === undefined)
                    await this.#relist(signal);
                const sawEvents = await this.#watch(signal);
                if (sawEvents)
                    backoff.reset();
            }
            catch (err) {
                if (signal.aborted)
                    break;
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
    #restarted(reason, err) {
        this.#options.metrics?.informerRestarts.inc({ resource: this.resourceLabel, reason });
        const log = reason === 'error' ? this.#log.warn : this.#log.info;
        log(`restarting list/watch`, { reason, err, resourceVersion: this.#resourceVersion });
    }
    #selectors() {
        return { labelSelector: this.#options.labelSelector, fieldSelector: this.#options.fieldSelector };
    }
    async #relist(signal) {
        const items = [];
        let resourceVersion = '';
        let continueToken;
        do {
            const page = await this.#client.request('GET', resourcePath(this.type, this.#options.namespace), {
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
    #replace(items) {
        const previous = this.#cache;
        const next = new Map();
        for (const item of items)
            next.set(objectKey(item), this.#typed(item));
        this.#cache = next;
        for (const [key, obj] of next) {
            const old = previous.get(key);
            if (!old)
                this.#emit('add', obj);
            else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion)
                this.#emit('update', obj, old);
        }
        for (const [key, old] of previous)
            if (!next.has(key))
                this.#emit('delete', old);
        this.#options.metrics?.informerObjects.set({ resource: this.resourceLabel }, next.size);
    }
    /** Watches until the server ends the watch; returns whether any event arrived. */
    async #watch(signal) {
        const timeoutSeconds = (this.#options.watchTimeoutSeconds ?? randomWatchTimeout)();
        const silenceMs = this.#options.silenceTimeoutMs ?? 90_000;
        const watchdog = new AbortController();
        const stream = await this.#client.watch(resourcePath(this.type, this.#options.namespace), { ...this.#selectors(), resourceVersion: this.#resourceVersion, allowWatchBookmarks: true, timeoutSeconds }, AbortSignal.any([signal, watchdog.signal]));
        let timer = setTimeout(() => watchdog.abort(), silenceMs);
        let sawEvents = false;
        try {
            for await (const event of stream.events) {
                clearTimeout(timer);
                timer = setTimeout(() => watchdog.abort(), silenceMs);
                sawEvents = true;
                this.#apply(event);
            }
        }
        catch (err) {
            if (watchdog.signal.aborted && !signal.aborted)
                throw new WatchSilentError(`no watch event for ${silenceMs} ms`);
            throw err;
        }
        finally {
            clearTimeout(timer);
            stream.abort();
        }
        if (watchdog.signal.aborted && !signal.aborted)
            throw new WatchSilentError(`no watch event for ${silenceMs} ms`);
        return sawEvents;
    }
    #apply(event) {
        this.#options.metrics?.informerEvents.inc({ resource: this.resourceLabel, type: event.type });
        if (event.type === 'ERROR') {
            const status = event.object;
            if (status.code === 410)
                throw new WatchExpiredError(status.message ?? 'resource version expired');
            throw new KubeApiError(status.code ?? 500, status.message ?? 'watch error', status.reason ?? '', status);
        }
        const obj = this.#typed(event.object);
        this.#resourceVersion = obj.metadata.resourceVersion ?? this.#resourceVersion;
        if (event.type === 'BOOKMARK')
            return;
        const key = objectKey(obj);
        const old = this.#cache.get(key);
        if (event.type === 'DELETED') {
            this.#cache.delete(key);
            this.#emit('delete', obj);
        }
        else {
            this.#cache.set(key, obj);
            if (old)
                this.#emit('update', obj, old);
            else
                this.#emit('add', obj);
        }
        this.#options.metrics?.informerObjects.set({ resource: this.resourceLabel }, this.#cache.size);
    }
    // List items carry no apiVersion/kind; cached objects always do, whichever way they arrived.
    #typed(obj) {
        obj.apiVersion ??= apiVersionOf(this.type);
        obj.kind ??= this.type.kind;
        return obj;
    }
    #emit(kind, obj, old) {
        for (const handler of this.#handlers)
            this.#call(handler, kind, obj, old);
    }
    // Handlers only enqueue keys; one that throws must not stop the informer or the other handlers.
    #call(handler, kind, obj, old) {
        try {
            if (kind === 'add')
                handler.add?.(obj);
            else if (kind === 'update')
                handler.update?.(old ?? obj, obj);
            else
                handler.delete?.(obj);
        }
        catch (err) {
            this.#log.error('event handler failed', { err, event: kind, key: objectKey(obj) });
        }
    }
    #markSynced() {
        if (this.#synced)
            return;
        this.#synced = true;
        const waiters = this.#syncWaiters;
        this.#syncWaiters = [];
        for (const wake of waiters)
            wake();
    }
}
/** One informer per resource type and selector, shared by every controller in the process (the shared cache). */
export class SharedInformers {
    #client;
    #defaults;
    #informers = new Map();
    #running;
    constructor(client, defaults) {
        this.#client = client;
        this.#defaults = defaults;
    }
    for(type, selection = {}) {
        const key = [type.group, type.version, type.plural, selection.namespace, selection.labelSelector, selection.fieldSelector].join('|');
        let informer = this.#informers.get(key);
        if (!informer) {
            informer = new Informer(this.#client, type, { ...this.#defaults, ...selection });
            this.#informers.set(key, informer);
            if (this.#running)
                this.#running.tasks.push(informer.run(this.#running.signal));
        }
        return informer;
    }
    /** Starts every informer (and any created later); resolves when all have stopped. */
    async run(signal) {
        this.#running = { signal, tasks: [...this.#informers.values()].map((informer) => informer.run(signal)) };
        while (true) {
            const tasks = this.#running.tasks.length;
            await Promise.all(this.#running.tasks);
            if (this.#running.tasks.length === tasks)
                return;
        }
    }
    async waitForSync(signal) {
        const results = await Promise.all([...this.#informers.values()].map((informer) => informer.waitForSync(signal)));
        return results.every(Boolean);
    }
    get synced() {
        return [...this.#informers.values()].every((informer) => informer.synced);
    }
}
