import assert from 'node:assert/strict';
import { Informer } from '../../operator/src/runtime/informer.ts';
import { KubeApiError, type KubeApi, type Query, type RequestOptions, type WatchEvent, type WatchStream } from '../../operator/src/runtime/kube.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { RuntimeMetrics } from '../../operator/src/runtime/metrics.ts';
import type { KubeList, KubeObject } from '../../operator/src/runtime/resource.ts';

const type = { group: 'shoal.dev', version: 'v1alpha1', plural: 'things', kind: 'Thing', namespaced: false } as const;
const quiet = createLogger({}, { write: () => {} });
const obj = (name: string, rv: number): KubeObject => ({ metadata: { name, resourceVersion: String(rv) } });

/** A scripted API server: `objects` is what a list returns; each watch is fed by the test. */
class FakeApi implements KubeApi {
  objects = new Map<string, KubeObject>();
  rv = 1;
  lists: number = 0;
  watches: Query[] = [];
  failNextWatch: Error | undefined;
  #feeds: Feed[] = [];

  async request<T>(method: string, _path: string, _options?: RequestOptions): Promise<T> {
    assert.equal(method, 'GET');
    this.lists++;
    const list: KubeList<KubeObject> = { metadata: { resourceVersion: String(this.rv) }, items: [...this.objects.values()].map((o) => structuredClone(o)) };
    return list as T;
  }

  async watch<T>(_path: string, query: Query, signal: AbortSignal): Promise<WatchStream<T>> {
    this.watches.push(query);
    if (this.failNextWatch) {
      const err = this.failNextWatch;
      this.failNextWatch = undefined;
      throw err;
    }
    const feed = new Feed(signal);
    this.#feeds.push(feed);
    return { events: feed.iterate() as AsyncIterable<WatchEvent<T>>, abort: () => feed.close() };
  }

  get feed(): Feed {
    const feed = this.#feeds.at(-1);
    assert.ok(feed, 'a watch is open');
    return feed;
  }

  upsert(name: string): KubeObject {
    const o = obj(name, ++this.rv);
    this.objects.set(name, o);
    return o;
  }

  remove(name: string): KubeObject {
    const o = this.objects.get(name)!;
    this.objects.delete(name);
    this.rv++;
    return { metadata: { ...o.metadata, resourceVersion: String(this.rv) } };
  }
}

class Feed {
  #queue: (WatchEvent<unknown> | 'end')[] = [];
  #wake: (() => void) | undefined;
  #signal: AbortSignal;
  constructor(signal: AbortSignal) {
    this.#signal = signal;
    signal.addEventListener('abort', () => this.#wake?.());
  }
  push(event: WatchEvent<unknown> | 'end'): void {
    this.#queue.push(event);
    this.#wake?.();
  }
  close(): void {
    this.push('end');
  }
  async *iterate(): AsyncGenerator<WatchEvent<unknown>> {
    while (true) {
      if (this.#signal.aborted) throw new DOMException('aborted', 'AbortError');
      const next = this.#queue.shift();
      if (next === 'end') return;
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

async function eventually(check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Informer', () => {
  let api: FakeApi;
  let stop: AbortController;
  let metrics: RuntimeMetrics;
  let events: string[];
  let informer: Informer<KubeObject>;
  let running: Promise<void>;

  function start(options: { silenceTimeoutMs?: number } = {}): void {
    informer = new Informer(api, type, { logger: quiet, metrics, backoff: { initialMs: 10, maxMs: 50 }, ...options });
    informer.addHandler({
      add: (o) => events.push(`add ${o.metadata.name}`),
      update: (_old, o) => events.push(`update ${o.metadata.name}`),
      delete: (o) => events.push(`delete ${o.metadata.name}`),
    });
    running = informer.run(stop.signal);
  }

  beforeEach(() => {
    api = new FakeApi();
    stop = new AbortController();
    metrics = new RuntimeMetrics({ processMetrics: false });
    events = [];
  });

  afterEach(async () => {
    stop.abort();
    await running;
  });

  it('lists, then watches from the list resourceVersion with bookmarks', async () => {
    api.upsert('a');
    start();
    assert.ok(await informer.waitForSync(stop.signal));
    await eventually(() => api.watches.length === 1, 'the watch');
    assert.equal(api.watches[0]!['resourceVersion'], '2');
    assert.equal(api.watches[0]!['allowWatchBookmarks'], true);
    api.feed.push({ type: 'ADDED', object: api.upsert('b') });
    api.feed.push({ type: 'MODIFIED', object: api.upsert('a') });
    api.feed.push({ type: 'DELETED', object: api.remove('b') });
    await eventually(() => events.length === 4, 'four events');
    assert.deepEqual(events, ['add a', 'add b', 'update a', 'delete b']);
    assert.deepEqual(informer.list().map((o) => o.metadata.name), ['a']);
    assert.equal(informer.get('a')?.kind, 'Thing', 'listed objects get their kind');
  });

  it('resumes from the last resourceVersion (bookmarks included) when the server closes the watch', async () => {
    start();
    await eventually(() => api.watches.length === 1, 'the watch');
    api.feed.push({ type: 'BOOKMARK', object: obj('', 42) });
    api.feed.close();
    await eventually(() => api.watches.length === 2, 'a second watch');
    assert.equal(api.watches[1]!['resourceVersion'], '42');
    assert.equal(api.lists, 1, 'no relist');
  });

  it('relists on 410 Gone and emits a delete for an object that vanished while it was not watching', async () => {
    api.upsert('keep');
    api.upsert('gone');
    start();
    await eventually(() => api.watches.length === 1, 'the watch');
    api.remove('gone');
    api.upsert('keep');
    api.upsert('new');
    api.feed.push({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } });
    await eventually(() => api.watches.length === 2, 'the watch after relist');
    assert.equal(api.lists, 2);
    assert.deepEqual(events.slice(2).sort(), ['add new', 'delete gone', 'update keep']);
    assert.equal(api.watches[1]!['resourceVersion'], String(api.rv));
    assert.match(await metrics.registry.metrics(), /shoal_informer_restarts_total\{resource="things.shoal.dev",reason="expired"\} 1/);
  });

  it('treats an HTTP 410 on watch like an expired event', async () => {
    start();
    await eventually(() => api.watches.length === 1, 'the watch');
    api.failNextWatch = new KubeApiError(410, 'gone', 'Expired');
    api.feed.close();
    await eventually(() => api.watches.length === 3, 'a watch after relisting');
    assert.equal(api.lists, 2);
  });

  it('backs off and retries the watch from the same resourceVersion after other errors', async () => {
    start();
    await eventually(() => api.watches.length === 1, 'the watch');
    api.failNextWatch = new Error('connect ECONNREFUSED');
    api.feed.close();
    await eventually(() => api.watches.length === 3, 'a retried watch');
    assert.equal(api.watches[2]!['resourceVersion'], api.watches[0]!['resourceVersion']);
    assert.equal(api.lists, 1, 'a transient error does not relist');
    assert.match(await metrics.registry.metrics(), /reason="error"\} 1/);
  });

  it('restarts a watch that went silent (the watchdog), without relisting', async () => {
    start({ silenceTimeoutMs: 60 });
    await eventually(() => api.watches.length >= 2, 'a watchdog restart', 1000);
    assert.equal(api.lists, 1);
    assert.match(await metrics.registry.metrics(), /reason="watchdog"\} [1-9]/);
  });

  it('keeps going when a handler throws', async () => {
    start();
    informer.addHandler({ add: () => { throw new Error('boom'); } });
    await eventually(() => api.watches.length === 1, 'the watch');
    api.feed.push({ type: 'ADDED', object: api.upsert('x') });
    api.feed.push({ type: 'ADDED', object: api.upsert('y') });
    await eventually(() => events.length === 2, 'both adds despite the throwing handler');
  });
});
