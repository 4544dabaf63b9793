// The mirror's OCI distribution server: read-only `/v2/`, answering from its ContentSources in order. An agent
// runs two: the internal listener for this node's containerd (loopback only, no auth, every source) and the
// peer listener on the node address (signed requests from cluster members only, local sources only). Anything
// it cannot serve is a quick 404, so containerd moves on to the next host; nothing it is sent can crash it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Registry } from 'prom-client';
import type { Logger } from '../../operator/src/runtime/log.ts';
import { verifyDigest } from '../runtime/containerd/content.ts';
import { MirrorError, quote, writeError } from './errors.ts';
import { manifestMediaTypes } from './manifest-type.ts';
import { mirrorMetrics, type CacheLabel, type HandlerLabel, type MirrorMetrics, type SourceLabel } from './metrics.ts';
import { peerAuthScheme, type PeerAuthenticator } from './peer-auth.ts';
import { apiVersion, apiVersionHeader, isPeerRequest } from './protocol.ts';
import { contentRange, parseRange, unsatisfiedRange } from './range.ts';
import { isSha256Digest, parseRoute, type MirrorRoute } from './routes.ts';
import type { BlobOrigin, ContentSource, ManifestDescriptor } from './source.ts';
import { verifyChunks } from './verify.ts';

/** What MirrorPolicy's `tags` set; changeable at runtime with configure(). */
export interface MirrorServerSettings {
  /** Answer tag lookups (`manifests/<tag>`); default true. When false only digests are served. */
  resolveTags?: boolean;
  /** Also answer the `latest` tag, which moves and may be stale here; default false. */
  resolveLatest?: boolean;
}

export interface MirrorServerOptions extends MirrorServerSettings {
  /** Tried in order; put the local store first. Requests from peers only reach sources with `local: true`. */
  sources: readonly ContentSource[];
  logger: Logger;
  /** prom-client registry for the mirror's metrics (metrics.ts); both listeners may share one. */
  metrics: Registry;
  /**
   * Makes this the peer listener: every request must be signed by a cluster member (peer-auth.ts), and only
   * local sources answer. Without it this is the internal listener, which only binds loopback addresses.
   */
  peerAuth?: PeerAuthenticator;
}

const loopbackHosts = new Set(['127.0.0.1', '::1', 'localhost']);

type ManifestRoute = Extract<MirrorRoute, { kind: 'manifest' }>;
type BlobRoute = Extract<MirrorRoute, { kind: 'blob' }>;

/** Per-request state the metrics are labelled from when the response closes. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  head: boolean;
  peer: boolean;
  signal: AbortSignal;
  handler: HandlerLabel;
  bytes: number;
}

export class MirrorServer {
  readonly #sources: readonly ContentSource[];
  readonly #localSources: readonly ContentSource[];
  readonly #logger: Logger;
  readonly #metrics: MirrorMetrics;
  readonly #peerAuth: PeerAuthenticator | undefined;
  #resolveTags = true;
  #resolveLatest = false;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(options: MirrorServerOptions) {
    this.#sources = [...options.sources];
    this.#localSources = this.#sources.filter((s) => s.local);
    this.#logger = options.logger;
    this.#peerAuth = options.peerAuth;
    if (this.#peerAuth) this.#sources = this.#localSources;
    this.#metrics = mirrorMetrics(options.metrics);
    this.configure(options);
    this.#server = createServer({ requestTimeout: 60_000, headersTimeout: 10_000, keepAliveTimeout: 30_000 }, this.handle);
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    // Requests Node's HTTP parser rejects (unknown methods, bad bytes in the target, oversized headers) never
    // reach handle(): Node answers them 400/431 itself, and only when no response is under way on the socket.
  }

  /** Applies MirrorPolicy's tag settings; unset fields keep their value. Takes effect for the next request. */
  configure(settings: MirrorServerSettings): void {
    if (settings.resolveTags !== undefined) this.#resolveTags = settings.resolveTags;
    if (settings.resolveLatest !== undefined) this.#resolveLatest = settings.resolveLatest;
  }

  get listening(): boolean {
    return this.#server.listening;
  }

  /** Whether this is the peer listener (authenticated, local sources only). */
  get peerFacing(): boolean {
    return this.#peerAuth !== undefined;
  }

  /**
   * Listens on `host:port` (port 0 picks a free one); resolves with the bound port. The internal listener
   * refuses any host but loopback: it forwards to peers without authenticating its clients.
   */
  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    if (!this.#peerAuth && !loopbackHosts.has(host)) throw new Error(`the internal mirror listener only binds loopback (127.0.0.1, ::1), not ${host}`);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const bound = (this.#server.address() as AddressInfo).port;
    this.#logger.info('mirror serving', { host, port: bound, listener: this.#peerAuth ? 'peer' : 'internal', sources: this.#sources.map((s) => s.name), resolveTags: this.#resolveTags, resolveLatest: this.#resolveLatest });
    return bound;
  }

  /** Stops accepting, ends idle connections and, after `graceMs`, the ones still streaming. */
  async close(graceMs = 5000): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const socket of this.#sockets) socket.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
    this.#logger.info('mirror stopped');
  }

  /** The request listener, usable on another http.Server too. Never throws. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const began = performance.now();
    const abort = new AbortController();
    const peer = this.#peerAuth !== undefined || isPeerRequest(req.headers);
    const exchange: Exchange = { req, res, head: req.method === 'HEAD', peer, signal: abort.signal, handler: 'other', bytes: 0 };
    let inflightHandler: HandlerLabel = 'other';
    this.#metrics.inflight.inc({ handler: inflightHandler });
    res.setHeader(apiVersionHeader, apiVersion);
    res.once('close', () => {
      // Also fires after a normal finish; aborting then is harmless and ends any source read still open.
      abort.abort();
      this.#metrics.inflight.dec({ handler: inflightHandler });
      const method = req.method === 'GET' || req.method === 'HEAD' ? req.method : 'other';
      this.#metrics.duration.observe({ handler: exchange.handler, method, code: String(res.statusCode) }, (performance.now() - began) / 1000);
      if (exchange.bytes > 0) this.#metrics.servedBytes.inc({ handler: exchange.handler, source: this.#sourceLabel(exchange) }, exchange.bytes);
      this.#logger.debug('mirror request', {
        method: req.method,
        url: req.url?.slice(0, 300),
        status: res.statusCode,
        bytes: exchange.bytes,
        peer: exchange.peer,
        complete: res.writableFinished,
        ms: Math.round(performance.now() - began),
      });
    });
    const moveInflight = (handler: HandlerLabel): void => {
      this.#metrics.inflight.dec({ handler: inflightHandler });
      this.#metrics.inflight.inc({ handler });
      inflightHandler = handler;
    };
    this.#serve(exchange, moveInflight).catch((err: unknown) => this.#fail(exchange, err));
  };

  async #serve(exchange: Exchange, moveInflight: (handler: HandlerLabel) => void): Promise<void> {
    const { req, res } = exchange;
    if (this.#peerAuth) await this.#authenticate(exchange, this.#peerAuth);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // Drain a pushed body (bounded by requestTimeout): closing with unread bytes would reset the connection
      // and the client might never see the 405.
      req.resume();
      throw new MirrorError(405, 'UNSUPPORTED', `method ${quote(req.method ?? '', 16)} is not allowed: this mirror is read-only`, { headers: { allow: 'GET, HEAD' } });
    }
    const route = parseRoute(req.url ?? '');
    exchange.handler = route.kind;
    moveInflight(route.kind);
    switch (route.kind) {
      case 'base': {
        const body = Buffer.from('{}');
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
        res.end(exchange.head ? undefined : body);
        return;
      }
      case 'manifest':
        return this.#manifest(exchange, route);
      case 'blob':
        return this.#blob(exchange, route);
    }
  }

  async #manifest(exchange: Exchange, route: ManifestRoute): Promise<void> {
    const { reference, registry, name } = route;
    if (reference.kind === 'tag') {
      const refused = this.#tagRefusal(reference.tag, registry);
      if (refused !== undefined) {
        this.#count(exchange, registry, 'miss');
        if (!exchange.peer) this.#metrics.fallbacks.inc({ reason: 'filtered' });
        throw new MirrorError(404, 'MANIFEST_UNKNOWN', refused);
      }
    }
    for (const source of this.#sourcesFor(exchange)) {
      const found = await this.#ask(exchange, source, 'manifest', () =>
        reference.kind === 'tag' ? source.resolveTag(registry ?? '', name, reference.tag, exchange.signal) : source.manifest(reference.digest, exchange.signal),
      );
      if (!found) continue;
      const manifest = this.#checkManifest(source, found, reference.kind === 'digest' ? reference.digest : undefined);
      if (!manifest) continue;
      let body: Buffer | undefined;
      if (!exchange.head) {
        body = await this.#ask(exchange, source, 'read-manifest', async () => {
          const bytes = await source.readManifest(manifest, exchange.signal);
          verifyDigest(manifest.digest, bytes);
          return bytes;
        });
        if (!body) continue;
      }
      this.#count(exchange, registry, 'hit');
      exchange.res.writeHead(200, { 'content-type': manifest.mediaType, 'content-length': String(manifest.size), 'docker-content-digest': manifest.digest });
      exchange.bytes = body?.length ?? 0;
      exchange.res.end(body);
      return;
    }
    this.#count(exchange, registry, 'miss');
    const what = reference.kind === 'tag' ? `${registry}/${name}:${reference.tag}` : reference.digest;
    throw new MirrorError(404, 'MANIFEST_UNKNOWN', `manifest ${what} is not on this node`);
  }

  async #blob(exchange: Exchange, route: BlobRoute): Promise<void> {
    const { req, res } = exchange;
    const { digest, registry } = route;
    const origin: BlobOrigin | undefined = registry === undefined ? undefined : { registry, repository: route.name };
    for (const source of this.#sourcesFor(exchange)) {
      const blob = await this.#ask(exchange, source, 'blob', () => source.blob(digest, exchange.signal, origin));
      if (!blob) continue;
      if (blob.digest !== digest || !Number.isSafeInteger(blob.size) || blob.size < 0) {
        this.#logger.warn('content source answered for another blob', { source: source.name, digest, answered: blob.digest, size: blob.size });
        continue;
      }
      const size = blob.size;
      const range = parseRange(req.headers.range, size);
      this.#count(exchange, registry, 'hit');
      if (range.kind === 'unsatisfiable') {
        throw new MirrorError(416, 'RANGE_INVALID', range.reason, { headers: { 'content-range': unsatisfiedRange(size), 'accept-ranges': 'bytes' } });
      }
      const [status, offset, length] = range.kind === 'partial' ? [206, range.start, range.end - range.start + 1] : [200, 0, size];
      const headers: Record<string, string> = {
        'content-type': 'application/octet-stream',
        'content-length': String(length),
        'docker-content-digest': digest,
        'accept-ranges': 'bytes',
        ...(range.kind === 'partial' ? { 'content-range': contentRange(range.start, range.end, size) } : {}),
      };
      if (exchange.head || length === 0) {
        res.writeHead(status, headers);
        res.end();
        return;
      }
      // A whole blob is checked against its digest, a range against its length; either way the last chunk of a
      // bad stream is never sent, so a corrupt store cannot hand out a complete wrong blob.
      const chunks = verifyChunks(source.read(digest, { offset, length }, exchange.signal, origin), range.kind === 'full' ? { digest, size } : { size: length });
      // Wait for the first bytes before committing to 200: a blob collected since blob() is still a clean 404.
      const first = await this.#ask(exchange, source, 'read', () => chunks.next());
      if (!first) continue;
      res.writeHead(status, headers);
      await pipeline(Readable.from(this.#counted(exchange, first, chunks), { objectMode: false }), res);
      return;
    }
    this.#count(exchange, registry, 'miss');
    throw new MirrorError(404, 'BLOB_UNKNOWN', `blob ${digest} is not on this node`);
  }

  /** Throws a 401/403 MirrorError unless the request is signed by a cluster member for this node. */
  async #authenticate(exchange: Exchange, auth: PeerAuthenticator): Promise<void> {
    const { req } = exchange;
    const result = await auth.authenticate(req.method ?? '', req.url ?? '', req.headers.authorization);
    if (result.ok) return;
    this.#metrics.authRefused.inc({ reason: result.reason });
    // Debug only: refusals are counted, and a flood of them must not flood the log.
    this.#logger.debug('peer request refused', { reason: result.reason, remote: req.socket.remoteAddress, url: req.url?.slice(0, 300) });
    // The body of a refused request is never read; drain it so the 401 is not lost to a reset.
    req.resume();
    const headers: Record<string, string> = result.status === 401 ? { 'www-authenticate': peerAuthScheme } : {};
    throw new MirrorError(result.status, result.status === 401 ? 'UNAUTHORIZED' : 'DENIED', result.message, { headers });
  }

  /** Why a tag lookup is refused before any source is asked, or undefined to go ahead. */
  #tagRefusal(tag: string, registry: string | undefined): string | undefined {
    if (!this.#resolveTags) return 'tags are not resolved by this mirror (resolveTags is off): ask the registry';
    if (tag === 'latest' && !this.#resolveLatest) return 'the latest tag is not resolved by this mirror (it moves; resolveLatest is off)';
    if (registry === undefined) return 'a tag lookup needs ?ns=<registry> to name the registry';
    return undefined;
  }

  /** A source's manifest answer, checked like network input (a peer source's will be). */
  #checkManifest(source: ContentSource, found: ManifestDescriptor, digest: string | undefined): ManifestDescriptor | undefined {
    const valid =
      isSha256Digest(found.digest) &&
      (digest === undefined || found.digest === digest) &&
      Number.isSafeInteger(found.size) &&
      found.size >= 0 &&
      manifestMediaTypes.has(found.mediaType);
    if (valid) return found;
    this.#logger.warn('content source answered with an invalid manifest descriptor', { source: source.name, digest, answered: found });
    return undefined;
  }

  /** Runs a source call; a failure is counted, logged and turned into "not here" unless the client went away. */
  async #ask<T>(exchange: Exchange, source: ContentSource, operation: string, call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (err) {
      if (exchange.signal.aborted) throw err;
      this.#metrics.sourceErrors.inc({ source: source.name, operation });
      this.#logger.warn('content source failed; answering as a miss', { source: source.name, operation, url: exchange.req.url?.slice(0, 300), err });
      return undefined;
    }
  }

  async *#counted(exchange: Exchange, first: IteratorResult<Buffer>, rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
    try {
      for (let next = first; !next.done; next = await rest.next()) {
        exchange.bytes += next.value.length;
        yield next.value;
      }
    } finally {
      // The response ended early (client gone, write error): close the source read too.
      await rest.return(undefined);
    }
  }

  #sourcesFor(exchange: Exchange): readonly ContentSource[] {
    return exchange.peer ? this.#localSources : this.#sources;
  }

  #sourceLabel(exchange: Exchange): SourceLabel {
    return exchange.peer ? 'external' : 'internal';
  }

  #count(exchange: Exchange, registry: string | undefined, cache: CacheLabel): void {
    this.#metrics.requests.inc({ registry: this.#metrics.registryLabel(registry), cache, source: this.#sourceLabel(exchange) });
    if (cache === 'hit') this.#metrics.markSuccess();
  }

  /** When a listener on this metrics Registry last served a hit (Node status.mirror.lastSuccessTime). */
  get lastSuccessTime(): Date | undefined {
    return this.#metrics.lastSuccessTime;
  }

  #fail(exchange: Exchange, err: unknown): void {
    const { res } = exchange;
    if (res.headersSent) {
      // Mid-body: only a cut connection tells the client the body is incomplete.
      if (!exchange.signal.aborted) this.#logger.warn('mirror response failed while streaming', { url: exchange.req.url?.slice(0, 300), bytes: exchange.bytes, err });
      res.destroy();
      return;
    }
    if (err instanceof MirrorError) {
      writeError(res, err, exchange.head);
      return;
    }
    if (exchange.signal.aborted) {
      res.destroy();
      return;
    }
    this.#logger.error('mirror request failed', { method: exchange.req.method, url: exchange.req.url?.slice(0, 300), err });
    writeError(res, new MirrorError(500, 'UNKNOWN', 'internal error in the mirror'), exchange.head);
  }
}
