// Pull-through with one upstream fetch per digest (agents/mirror/upstream/) against a real registry (CNCF
// distribution, hack/registry.ts). A small HTTP proxy written here sits in front of it: it counts the GETs and
// blob bytes that reach upstream, and on demand plays the parts a real registry can play: a Bearer token
// challenge with its token server, a redirect to another origin (object storage), a slow or broken body, and
// a flipped byte.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Registry as MetricsRegistry } from 'prom-client';
import { IntegrityError } from '../../agents/mirror/verify.ts';
import { SpoolFullError } from '../../agents/mirror/upstream/errors.ts';
import { UpstreamMetrics } from '../../agents/mirror/upstream/metrics.ts';
import { RegistryClient } from '../../agents/mirror/upstream/registry-client.ts';
import { UpstreamFetcher, type UpstreamBlob } from '../../agents/mirror/upstream/single-flight.ts';
import { buildBusyboxImage, mediaTypes, pushImage, type OciImage } from '../../hack/images.ts';
import { Registry } from '../../hack/registry.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';

const logger = createLogger({ component: 'mirror-upstream-test' });
const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const repo = 'shoal/big';
/** 32 MiB by default; SHOAL_MIRROR_UPSTREAM_TEST_MB=256 runs the 256 MB case. */
const bigLayerBytes = Number(process.env['SHOAL_MIRROR_UPSTREAM_TEST_MB'] ?? '32') * 1024 * 1024;

interface ProxyOptions {
  /** `bearer`: 401 with a challenge unless the request carries a token from our /token; `deny`: 401 even then. */
  auth?: 'bearer' | 'deny';
  /** Redirect blob GETs to this origin (another proxy), as registries redirect to object storage. */
  redirectTo?: string;
  /** Flip one byte in the middle of blob bodies. */
  corrupt?: boolean;
  /** Delay each blob body chunk this long, so readers can join a fetch in flight. */
  chunkDelayMs?: number;
  /** Cut the connection of the first blob GET after this many body bytes. */
  cutAfterBytes?: number;
  /** Answer the first this many blob GETs with 503. */
  failBlobGets?: number;
}

interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  range: string | undefined;
}

/** A counting, misbehaving-on-demand HTTP proxy in front of the registry. */
class UpstreamProxy {
  readonly requests: SeenRequest[] = [];
  readonly tokenQueries: URLSearchParams[] = [];
  blobBodyBytes = 0;
  readonly #server: http.Server;
  readonly #target: URL;
  readonly #options: ProxyOptions;
  #cut = false;
  #failed = 0;

  private constructor(target: string, options: ProxyOptions) {
    this.#target = new URL(target);
    this.#options = options;
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        logger.debug('proxy request ended', { err });
        res.destroy();
      });
    });
  }

  static async start(target: string, options: ProxyOptions = {}): Promise<UpstreamProxy> {
    const proxy = new UpstreamProxy(target, options);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** `127.0.0.1:<port>`: the registry name the fetcher is given. */
  get host(): string {
    return `127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  get url(): string {
    return `http://${this.host}`;
  }

  blobGets(digest: string): SeenRequest[] {
    return this.requests.filter((r) => r.method === 'GET' && r.path.startsWith(`/v2/${repo}/blobs/${digest}`));
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    if (url.pathname === '/token') {
      this.tokenQueries.push(url.searchParams);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'anonymous-token', expires_in: 300 }));
      return;
    }
    const authorization = req.headers.authorization;
    this.requests.push({ method: req.method ?? '', path: url.pathname + url.search, authorization, range: req.headers.range });
    const name = /^\/v2\/(.+)\/(?:blobs|manifests)\//.exec(url.pathname)?.[1];
    if (this.#options.auth !== undefined && name !== undefined && (this.#options.auth === 'deny' || authorization !== 'Bearer anonymous-token')) {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="${this.url}/token",service="test-registry",scope="repository:${name}:pull"`,
        'content-type': 'application/json',
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const isBlob = url.pathname.includes('/blobs/');
    if (isBlob && this.#failed < (this.#options.failBlobGets ?? 0)) {
      this.#failed++;
      res.writeHead(503, { 'content-type': 'text/plain' }).end('try again later');
      return;
    }
    if (isBlob && this.#options.redirectTo !== undefined) {
      res.writeHead(307, { location: `${this.#options.redirectTo}${url.pathname}?X-Amz-Signature=test` }).end();
      return;
    }
    const headers = { ...req.headers, host: this.#target.host };
    delete headers.authorization;
    const upstream = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.request(new URL(url.pathname, this.#target), { method: req.method, headers }, resolve).on('error', reject).end();
    });
    res.writeHead(upstream.statusCode ?? 502, upstream.headers);
    if (!isBlob || req.method !== 'GET' || (upstream.statusCode ?? 0) >= 300) {
      await pipeline(upstream, res);
      return;
    }
    const stages: Transform[] = [];
    if (this.#options.chunkDelayMs !== undefined) stages.push(delayEach(this.#options.chunkDelayMs));
    if (this.#options.corrupt) stages.push(flipByteAt(Math.floor(Number(upstream.headers['content-length']) / 2)));
    const cutAfter = this.#cut ? undefined : this.#options.cutAfterBytes;
    if (cutAfter !== undefined) this.#cut = true;
    let sent = 0;
    stages.push(
      new Transform({
        transform: (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void => {
          sent += chunk.length;
          this.blobBodyBytes += chunk.length;
          if (cutAfter !== undefined && sent > cutAfter) {
            res.destroy();
            callback(new Error('cut on purpose'));
            return;
          }
          callback(null, chunk);
        },
      }),
    );
    await pipeline([upstream, ...stages, res]);
  }
}

function delayEach(ms: number): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      setTimeout(() => callback(null, chunk), ms);
    },
  });
}

function flipByteAt(position: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      if (position >= seen && position < seen + chunk.length) {
        const copy = Buffer.from(chunk);
        copy[position - seen] = (copy[position - seen] ?? 0) ^ 0xff;
        chunk = copy;
      }
      seen += chunk.length;
      callback(null, chunk);
    },
  });
}

async function collect(blob: UpstreamBlob): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of blob.chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

/** The value of one sample in the registry's text exposition, 0 when absent. */
async function sample(metrics: MetricsRegistry, line: string): Promise<number> {
  const text = await metrics.metrics();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

describe('mirror upstream single-flight pull-through (real registry)', function () {
  this.timeout(120_000);

  let dir: string;
  let registry: Registry;
  let image: OciImage;
  let big: { digest: string; size: number; data: Buffer };
  const proxies: UpstreamProxy[] = [];
  let metrics: MetricsRegistry;
  let fetcher: UpstreamFetcher;
  let spoolDir: string;
  let caseNumber = 0;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'shoal-mirror-upstream-'));
    registry = await Registry.start({ dir: join(dir, 'registry'), logger });
    image = await buildBusyboxImage({ tag: 'mirror-upstream', extraLayerSizeBytes: bigLayerBytes });
    await pushImage(registry.url, repo, '1', image);
    const layer = image.layers[1];
    assert.ok(layer && layer.size > bigLayerBytes);
    big = { digest: layer.digest, size: layer.size, data: layer.data };
  });

  after(async function () {
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function proxy(options: ProxyOptions = {}): Promise<UpstreamProxy> {
    const started = await UpstreamProxy.start(registry.url, options);
    proxies.push(started);
    return started;
  }

  async function newFetcher(options: { ttlMs?: number; maxSpoolBytes?: number } = {}): Promise<UpstreamFetcher> {
    metrics = new MetricsRegistry();
    const upstreamMetrics = new UpstreamMetrics(metrics);
    spoolDir = join(dir, `spool-${++caseNumber}`);
    const client = new RegistryClient({ logger, metrics: upstreamMetrics, headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000 });
    fetcher = await UpstreamFetcher.create({ client, spoolDir, logger, metrics: upstreamMetrics, backoff: { initialMs: 50, maxMs: 200 }, ...options });
    return fetcher;
  }

  afterEach(async function () {
    await fetcher?.close();
    for (const started of proxies.splice(0)) await started.close();
  });

  it('serves 4 concurrent readers of one blob with one upstream GET', async function () {
    const upstream = await proxy({ chunkDelayMs: 2 });
    await newFetcher();
    const readers = await Promise.all([0, 1, 2, 3].map(() => fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(60_000))));
    const received = await Promise.all(readers.map(async (blob) => {
      assert.ok(blob);
      assert.equal(blob.size, big.size);
      return collect(blob);
    }));
    for (const bytes of received) assert.equal(sha256(bytes), big.digest);
    assert.equal(upstream.blobGets(big.digest).length, 1, 'one upstream GET for four readers');
    assert.ok(upstream.blobBodyBytes <= 1.2 * big.size, `upstream sent ${upstream.blobBodyBytes} bytes for a ${big.size}-byte blob`);
    assert.equal(await sample(metrics, 'shoal_mirror_coalesced_readers_total'), 3);
    assert.equal(await sample(metrics, `shoal_mirror_upstream_bytes_total{registry="${upstream.host}"}`), big.size);
    assert.equal(await sample(metrics, `shoal_mirror_upstream_requests_total{registry="${upstream.host}",result="ok"}`), 1);

    // Within the TTL a later reader is served from the completed spool.
    const late = await fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(10_000));
    assert.ok(late);
    assert.equal(sha256(await collect(late)), big.digest);
    assert.equal(upstream.blobGets(big.digest).length, 1);
    assert.equal(fetcher.status(big.digest)?.state, 'complete');
  });

  it('lets readers join a fetch in flight, and range readers wait for their slice', async function () {
    const upstream = await proxy({ chunkDelayMs: 4 });
    await newFetcher();
    const first = await fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(60_000));
    assert.ok(first);
    const firstBytes = collect(first);
    // Wait until the spool is partly written, then join with whole and ranged readers.
    const deadline = Date.now() + 30_000;
    while ((fetcher.status(big.digest)?.written ?? 0) < big.size / 4) {
      assert.ok(Date.now() < deadline, 'the spool never reached a quarter');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const written = fetcher.status(big.digest)?.written ?? 0;
    assert.ok(written < big.size, 'the fetch is still in flight when the others join');
    const ranges = [
      { offset: 0, length: 1000 },
      { offset: 12_345, length: 1024 * 1024 },
      { offset: big.size - 4096, length: 4096 },
      { offset: Math.floor(big.size / 2), length: 1 },
    ];
    const joined = await Promise.all([
      fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(60_000)),
      ...ranges.map((range) => fetcher.open(upstream.host, repo, big.digest, range, AbortSignal.timeout(60_000))),
    ]);
    const [whole, ...slices] = await Promise.all(joined.map(async (blob) => {
      assert.ok(blob);
      assert.equal(blob.size, big.size);
      return collect(blob);
    }));
    assert.equal(sha256(await firstBytes), big.digest);
    assert.equal(sha256(whole ?? Buffer.alloc(0)), big.digest);
    ranges.forEach((range, i) => assert.ok(slices[i]?.equals(big.data.subarray(range.offset, range.offset + range.length)), `range ${range.offset}+${range.length}`));
    assert.equal(upstream.blobGets(big.digest).length, 1);
    assert.equal(await sample(metrics, 'shoal_mirror_coalesced_readers_total'), 5);
  });

  it('keeps the shared fetch going when one reader aborts, and fails readers on close()', async function () {
    const upstream = await proxy({ chunkDelayMs: 2 });
    await newFetcher();
    const quitter = new AbortController();
    const [leaving, staying] = await Promise.all([
      fetcher.open(upstream.host, repo, big.digest, undefined, quitter.signal),
      fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(60_000)),
    ]);
    assert.ok(leaving && staying);
    const left = (async () => {
      for await (const _chunk of leaving.chunks) quitter.abort(new Error('client went away'));
    })();
    await assert.rejects(left, /client went away/);
    assert.equal(sha256(await collect(staying)), big.digest);
    assert.equal(upstream.blobGets(big.digest).length, 1);

    // close() in the middle of a fetch fails its readers and deletes the spool.
    await fetcher.close();
    await newFetcher();
    const slow = await proxy({ chunkDelayMs: 20 });
    const inFlight = await fetcher.open(slow.host, repo, big.digest, undefined, AbortSignal.timeout(60_000));
    assert.ok(inFlight);
    const reading = collect(inFlight);
    while ((fetcher.status(big.digest)?.written ?? 0) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await fetcher.close();
    await assert.rejects(reading);
    assert.deepEqual(await readdir(spoolDir), []);
  });

  it('answers a clean not-found for a blob or repository the registry does not have', async function () {
    const upstream = await proxy();
    await newFetcher();
    const unknown = sha256(Buffer.from('no such blob'));
    assert.equal(await fetcher.open(upstream.host, repo, unknown, undefined, AbortSignal.timeout(10_000)), undefined);
    assert.equal(await fetcher.open(upstream.host, 'shoal/nothing-here', big.digest, undefined, AbortSignal.timeout(10_000)), undefined);
    assert.equal(await fetcher.manifest(upstream.host, repo, unknown, AbortSignal.timeout(10_000)), undefined);
    assert.equal(await sample(metrics, `shoal_mirror_upstream_requests_total{registry="${upstream.host}",result="not_found"}`), 3);
    assert.deepEqual(await readdir(spoolDir), []);
    // Not-found is not remembered: the blob is asked for again next time.
    assert.equal(await fetcher.open(upstream.host, repo, unknown, undefined, AbortSignal.timeout(10_000)), undefined);
    assert.equal(upstream.requests.filter((r) => r.path.includes(unknown)).length, 3);
  });

  it('fetches manifests by digest, checked, with their media type', async function () {
    const upstream = await proxy();
    await newFetcher();
    const [a, b] = await Promise.all([0, 1].map(() => fetcher.manifest(upstream.host, repo, image.manifestDigest, AbortSignal.timeout(10_000))));
    assert.ok(a && b);
    assert.ok(a.bytes.equals(image.manifestBytes));
    assert.equal(a.mediaType, mediaTypes.manifest);
    assert.equal(upstream.requests.filter((r) => r.path === `/v2/${repo}/manifests/${image.manifestDigest}`).length, 1, 'concurrent manifest fetches share one GET');
  });

  it('answers a Bearer challenge anonymously and reuses the token', async function () {
    const upstream = await proxy({ auth: 'bearer' });
    await newFetcher();
    const blob = await fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(60_000));
    assert.ok(blob);
    assert.equal(sha256(await collect(blob)), big.digest);
    const manifest = await fetcher.manifest(upstream.host, repo, image.manifestDigest, AbortSignal.timeout(10_000));
    assert.ok(manifest?.bytes.equals(image.manifestBytes));
    assert.equal(upstream.tokenQueries.length, 1, 'one token for the repository');
    assert.equal(upstream.tokenQueries[0]?.get('service'), 'test-registry');
    assert.equal(upstream.tokenQueries[0]?.get('scope'), `repository:${repo}:pull`);
    const gets = upstream.blobGets(big.digest);
    assert.deepEqual(gets.map((r) => r.authorization), [undefined, 'Bearer anonymous-token']);
  });

  it('treats a registry that refuses the anonymous token as not found', async function () {
    const upstream = await proxy({ auth: 'deny' });
    await newFetcher();
    assert.equal(await fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(10_000)), undefined);
    assert.equal(await fetcher.manifest(upstream.host, repo, image.manifestDigest, AbortSignal.timeout(10_000)), undefined);
    assert.equal(await sample(metrics, `shoal_mirror_upstream_requests_total{registry="${upstream.host}",result="denied"}`), 2);
    assert.deepEqual(await readdir(spoolDir), []);
  });

  it('follows a redirect to another origin without sending the token there', async function () {
    const storage = await proxy();
    const upstream = await proxy({ auth: 'bearer', redirectTo: storage.url });
    await newFetcher();
    const blob = await fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(60_000));
    assert.ok(blob);
    assert.equal(sha256(await collect(blob)), big.digest);
    const stored = storage.blobGets(big.digest);
    assert.equal(stored.length, 1);
    assert.equal(stored[0]?.authorization, undefined, 'the registry token stays with the registry');
    assert.equal(upstream.blobGets(big.digest).at(-1)?.authorization, 'Bearer anonymous-token');
  });

  it('fails every reader of a corrupted blob and leaves no spool', async function () {
    const upstream = await proxy({ corrupt: true, chunkDelayMs: 1 });
    await newFetcher();
    const readers = await Promise.all([0, 1, 2, 3].map(() => fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(60_000))));
    const outcomes = await Promise.allSettled(readers.map(async (blob) => {
      assert.ok(blob);
      return collect(blob);
    }));
    for (const outcome of outcomes) {
      assert.equal(outcome.status, 'rejected');
      assert.ok(outcome.reason instanceof IntegrityError, String(outcome.reason));
    }
    assert.equal(upstream.blobGets(big.digest).length, 1);
    assert.deepEqual(await readdir(spoolDir), []);
    assert.equal(fetcher.status(big.digest), undefined);
    assert.equal(await sample(metrics, `shoal_mirror_upstream_requests_total{registry="${upstream.host}",result="integrity"}`), 1);
    assert.equal(await sample(metrics, 'shoal_mirror_upstream_spool_bytes'), 0);
  });

  it('resumes a broken upstream body with a range request', async function () {
    const upstream = await proxy({ cutAfterBytes: 5 * 1024 * 1024 });
    await newFetcher();
    const readers = await Promise.all([0, 1].map(() => fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(60_000))));
    for (const bytes of await Promise.all(readers.map(async (blob) => collect(blob ?? assert.fail('not found'))))) assert.equal(sha256(bytes), big.digest);
    const gets = upstream.blobGets(big.digest);
    assert.equal(gets.length, 2);
    assert.match(gets[1]?.range ?? '', /^bytes=\d+-\d+$/);
    assert.ok(upstream.blobBodyBytes <= 1.2 * big.size, `upstream sent ${upstream.blobBodyBytes} bytes`);
  });

  it('retries a first request that failed with 503', async function () {
    const upstream = await proxy({ failBlobGets: 1 });
    await newFetcher();
    const blob = await fetcher.open(upstream.host, repo, image.configDigest, undefined, AbortSignal.timeout(10_000));
    assert.ok((await collect(blob ?? assert.fail('not found'))).equals(image.configBytes));
    assert.equal(upstream.requests.filter((r) => r.path === `/v2/${repo}/blobs/${image.configDigest}`).length, 2);
  });

  it('expires completed spools after the TTL and refuses blobs larger than the spool bound', async function () {
    const upstream = await proxy();
    await newFetcher({ ttlMs: 300 });
    const blob = await fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(60_000));
    assert.equal(sha256(await collect(blob ?? assert.fail('not found'))), big.digest);
    assert.equal((await readdir(spoolDir)).length, 1);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.deepEqual(await readdir(spoolDir), []);
    assert.equal(fetcher.status(big.digest), undefined);
    await fetcher.close();

    await newFetcher({ maxSpoolBytes: big.size - 1 });
    await assert.rejects(fetcher.open(upstream.host, repo, big.digest, undefined, AbortSignal.timeout(10_000)), SpoolFullError);
    assert.deepEqual(await readdir(spoolDir), []);
    // A smaller blob (the config) fits.
    const config = await fetcher.open(upstream.host, repo, image.configDigest, undefined, AbortSignal.timeout(10_000));
    assert.ok((await collect(config ?? assert.fail('not found'))).equals(image.configBytes));
  });
});
