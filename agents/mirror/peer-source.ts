// The peer ContentSource: content other nodes' mirrors hold, found through a Resolver and fetched over HTTP from
// their peer listeners (signed with this node's key, marked so they never forward). Every byte is checked
// against its digest: manifests and small blobs are fetched whole and verified before anything is returned,
// large blobs stream through a check that holds the last chunk back, and a broken stream resumes on the next
// peer with a Range request. Peers that fail or lie are put in cool-off (peer-health.ts).
import type { Registry } from 'prom-client';
import { Agent, type Dispatcher } from 'undici';
import type { Logger } from '../../operator/src/runtime/log.ts';
import { verifyDigest } from '../runtime/containerd/content.ts';
import { tagKey } from './keys.ts';
import { manifestMediaTypes, maxManifestBytes } from './manifest-type.ts';
import { mirrorMetrics, type FallbackReason, type MirrorMetrics } from './metrics.ts';
import type { PeerSigner } from './peer-auth.ts';
import { PeerHealth } from './peer-health.ts';
import { peerIdOf, peerMarkerHeader, peerMarkerValue, peerOrigin } from './protocol.ts';
import type { ContentKey, Resolver } from './resolver.ts';
import { isSha256Digest } from './routes.ts';
import type { BlobDescriptor, BlobOrigin, ByteRange, ContentSource, ManifestDescriptor } from './source.ts';
import { IntegrityError, StreamCheck } from './verify.ts';

/** The knobs MirrorPolicy sets at runtime. */
export interface PeerSourceSettings {
  /** How long to wait for the Resolver's next peer; default 20 ms. */
  resolveTimeoutMs?: number;
  /** Peers tried after the first one per request (lookups, and resumes of a blob stream); default 3. */
  retries?: number;
}

export interface PeerSourceOptions extends PeerSourceSettings {
  resolver: Resolver;
  /** This node's identity, signing every request (peer-auth.ts). */
  signer: PeerSigner;
  logger: Logger;
  /** prom-client registry for the mirror's metrics (metrics.ts). */
  metrics: Registry;
  /** Shared with whatever else judges peers; default a new one on `metrics`. */
  health?: PeerHealth;
  /** Deadline for a peer's response headers, and for a whole manifest or tag lookup; default 1 s. */
  requestTimeoutMs?: number;
  /** A blob stream idle this long counts as broken and resumes elsewhere; default 10 s. */
  bodyTimeoutMs?: number;
  /** Blobs up to this size are fetched whole and verified before the first byte is returned; default 4 MiB. */
  smallBlobBytes?: number;
  /** HTTP client; default an undici Agent with keep-alive, closed by close(). */
  dispatcher?: Dispatcher;
  /** For logs and metrics; default `peers`. */
  name?: string;
  /**
   * Ask for blobs under their own repository and `?ns=` registry, and only when the request names them: the
   * peer may have to fetch the blob upstream (cold-pull coalescing, upstream/). Default false (`shoal/peer`).
   */
  forwardOrigin?: boolean;
}

/** Peers serve digests whatever the repository (content is global per containerd namespace); any valid name does. */
const digestRepository = 'shoal/peer';
/** Where a blob was last found, so read() starts with that peer; kept briefly and for few digests. */
const locatedTtlMs = 60_000;
const maxLocated = 1024;
/** Verified manifests handed from manifest() to readManifest(); HEADs leave theirs behind, so the cache is bounded. */
const maxCachedManifests = 64;
const maxCachedManifestBytes = 16 * 1024 * 1024;

type Outcome = Exclude<FallbackReason, 'filtered'>;

/** A peer attempt that did not work out, with the reason the fallback metric and penalties use. */
class PeerAttemptError extends Error {
  override readonly name = 'PeerAttemptError';
  readonly reason: Outcome;

  constructor(reason: Outcome, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

interface Located {
  size: number;
  peer: URL;
  at: number;
}

/** Identifies a peer for health and metrics: its peer ID. */
function peerKey(peer: URL): string {
  return peerIdOf(peer) ?? peerOrigin(peer);
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A keep-alive pool for peer requests; idle connections end before the peer listener's 30 s keep-alive does, so a reused one is never half-closed. */
export function peerDispatcher(): Dispatcher {
  return new Agent({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 25_000, connections: 32 });
}

export class PeerSource implements ContentSource {
  readonly name: string;
  readonly local = false;
  readonly #forwardOrigin: boolean;
  readonly #resolver: Resolver;
  readonly #signer: PeerSigner;
  readonly #logger: Logger;
  readonly #metrics: MirrorMetrics;
  readonly #health: PeerHealth;
  readonly #requestTimeoutMs: number;
  readonly #bodyTimeoutMs: number;
  readonly #smallBlobBytes: number;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  #resolveTimeoutMs = 20;
  #retries = 3;
  readonly #located = new Map<string, Located>();
  /** Verified manifest bytes by digest, between manifest() and readManifest(). */
  readonly #manifests = new Map<string, Buffer>();
  #manifestBytes = 0;

  constructor(options: PeerSourceOptions) {
    this.name = options.name ?? 'peers';
    this.#forwardOrigin = options.forwardOrigin ?? false;
    this.#resolver = options.resolver;
    this.#signer = options.signer;
    this.#logger = options.logger;
    this.#metrics = mirrorMetrics(options.metrics);
    this.#health = options.health ?? new PeerHealth({ metrics: options.metrics });
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 1000;
    this.#bodyTimeoutMs = options.bodyTimeoutMs ?? 10_000;
    this.#smallBlobBytes = options.smallBlobBytes ?? 4 * 1024 * 1024;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher ?? peerDispatcher();
    this.configure(options);
  }

  get health(): PeerHealth {
    return this.#health;
  }

  /** Applies MirrorPolicy's knobs; unset fields keep their value. Takes effect for the next request. */
  configure(settings: PeerSourceSettings): void {
    if (settings.resolveTimeoutMs !== undefined) {
      if (!Number.isFinite(settings.resolveTimeoutMs) || settings.resolveTimeoutMs <= 0) throw new RangeError(`resolveTimeoutMs must be positive, got ${settings.resolveTimeoutMs}`);
      this.#resolveTimeoutMs = settings.resolveTimeoutMs;
    }
    if (settings.retries !== undefined) {
      if (!Number.isSafeInteger(settings.retries) || settings.retries < 0) throw new RangeError(`retries must be a non-negative integer, got ${settings.retries}`);
      this.#retries = settings.retries;
    }
  }

  /** Closes the connections this source opened. */
  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  async resolveTag(registry: string, name: string, tag: string, signal: AbortSignal): Promise<ManifestDescriptor | undefined> {
    if (this.#forwardOrigin) return undefined; // only blobs are coalesced; manifests are small
    const path = `/v2/${name}/manifests/${tag}?ns=${encodeURIComponent(registry)}`;
    return this.#lookup(tagKey(registry, name, tag), signal, async (peer, deadline) => {
      const res = await this.#request(peer, 'HEAD', path, { signal: deadline });
      await res.body.dump();
      if (res.statusCode === 404) return undefined;
      if (res.statusCode !== 200) throw new PeerAttemptError('peer-error', `HEAD manifest answered ${res.statusCode}`);
      const digest = header(res.headers, 'docker-content-digest') ?? '';
      const mediaType = (header(res.headers, 'content-type') ?? '').split(';')[0]?.trim() ?? '';
      const size = Number(header(res.headers, 'content-length'));
      if (!isSha256Digest(digest) || !manifestMediaTypes.has(mediaType) || !Number.isSafeInteger(size) || size < 0 || size > maxManifestBytes) {
        throw new PeerAttemptError('peer-error', `HEAD manifest answered an invalid descriptor (${digest.slice(0, 80)}, ${mediaType.slice(0, 80)}, ${size})`);
      }
      return { digest, size, mediaType };
    });
  }

  async manifest(digest: string, signal: AbortSignal): Promise<ManifestDescriptor | undefined> {
    if (this.#forwardOrigin) return undefined;
    const path = `/v2/${digestRepository}/manifests/${digest}`;
    return this.#lookup(digest, signal, async (peer, deadline) => {
      const res = await this.#get(peer, path, deadline, 'manifest');
      if (!res) return undefined;
      const mediaType = (header(res.headers, 'content-type') ?? '').split(';')[0]?.trim() ?? '';
      const bytes = await this.#readBody(res, maxManifestBytes, peer);
      // Fully verified before the server sends a byte: a lying peer costs this request nothing.
      this.#verify(digest, bytes);
      if (!manifestMediaTypes.has(mediaType)) throw new PeerAttemptError('peer-error', `manifest served as ${JSON.stringify(mediaType.slice(0, 80))}`);
      this.#cacheManifest(digest, bytes);
      return { digest, size: bytes.length, mediaType };
    });
  }

  async readManifest(manifest: ManifestDescriptor, signal: AbortSignal): Promise<Buffer> {
    const cached = this.#manifests.get(manifest.digest);
    if (cached) {
      this.#manifests.delete(manifest.digest);
      this.#manifestBytes -= cached.length;
      return cached;
    }
    const found = await this.manifest(manifest.digest, signal);
    const bytes = found && this.#manifests.get(found.digest);
    if (!bytes) throw new Error(`no peer serves manifest ${manifest.digest} any more`);
    this.#manifests.delete(manifest.digest);
    this.#manifestBytes -= bytes.length;
    return bytes;
  }

  async blob(digest: string, signal: AbortSignal, origin?: BlobOrigin): Promise<BlobDescriptor | undefined> {
    const path = this.#blobPath(digest, origin);
    if (!path) return undefined;
    return this.#lookup(digest, signal, async (peer, deadline) => {
      const res = await this.#request(peer, 'HEAD', path, { signal: deadline });
      await res.body.dump();
      if (res.statusCode === 404) return undefined;
      if (res.statusCode !== 200) throw new PeerAttemptError('peer-error', `HEAD blob answered ${res.statusCode}`);
      const size = Number(header(res.headers, 'content-length'));
      if (!Number.isSafeInteger(size) || size < 0) throw new PeerAttemptError('peer-error', `HEAD blob answered an invalid size`);
      this.#locate(digest, { size, peer, at: Date.now() });
      return { digest, size };
    });
  }

  read(digest: string, range: ByteRange, signal: AbortSignal, origin?: BlobOrigin): AsyncIterable<Uint8Array> {
    return this.#read(digest, range, signal, origin);
  }

  /** Where a peer serves the blob: any repository will do, unless the peer may need the origin (forwardOrigin). */
  #blobPath(digest: string, origin: BlobOrigin | undefined): string | undefined {
    if (!this.#forwardOrigin) return `/v2/${digestRepository}/blobs/${digest}`;
    return origin && `/v2/${origin.repository}/blobs/${digest}?ns=${encodeURIComponent(origin.registry)}`;
  }

  async *#read(digest: string, range: ByteRange, signal: AbortSignal, origin: BlobOrigin | undefined): AsyncGenerator<Buffer> {
    const path = this.#blobPath(digest, origin);
    if (!path) throw new Error(`${this.name}: ${digest} asked without its registry and repository`);
    let located = this.#located.get(digest);
    if (!located || Date.now() - located.at > locatedTtlMs) {
      if (!(await this.blob(digest, signal, origin))) throw new Error(`no peer holds ${digest}`);
      located = this.#located.get(digest);
      if (!located) throw new Error(`no peer holds ${digest}`);
    }
    if (range.offset + range.length > located.size) throw new RangeError(`range ${range.offset}+${range.length} is past the end of ${digest} (${located.size} bytes)`);
    if (located.size <= this.#smallBlobBytes) {
      const whole = await this.#fetchWhole(digest, path, located, signal);
      yield whole.subarray(range.offset, range.offset + range.length);
      return;
    }
    yield* this.#stream(digest, path, located, range, signal);
  }

  /** GET `path` from `peer`: the response on 200, undefined on 404 (body drained), a peer error otherwise. */
  async #get(peer: URL, path: string, signal: AbortSignal, what: string): Promise<Dispatcher.ResponseData | undefined> {
    const res = await this.#request(peer, 'GET', path, { signal });
    if (res.statusCode === 200) return res;
    await res.body.dump();
    if (res.statusCode === 404) return undefined;
    throw new PeerAttemptError('peer-error', `GET ${what} answered ${res.statusCode}`);
  }

  /** A small blob, fetched whole from one peer after another until one serves the right bytes. */
  async #fetchWhole(digest: string, path: string, located: Located, signal: AbortSignal): Promise<Buffer> {
    const found = await this.#lookup(
      digest,
      signal,
      async (peer, deadline) => {
        const res = await this.#get(peer, path, deadline, 'blob');
        if (!res) return undefined;
        // Bounded by the small-blob limit rather than the announced size: the HEAD may have been the lie.
        const bytes = await this.#readBody(res, this.#smallBlobBytes, peer);
        this.#verify(digest, bytes);
        return bytes;
      },
      { prefer: located.peer, bodyDeadline: true },
    );
    if (!found) throw new Error(`no peer served ${digest}`);
    if (found.length !== located.size) {
      // The verified bytes are the truth: the peer that announced the size lied, and nothing has been sent yet.
      const liar = peerKey(located.peer);
      this.#located.delete(digest);
      this.#health.penalise(liar, 'digest-mismatch');
      this.#metrics.fallbacks.inc({ reason: 'digest-mismatch' });
      this.#logger.warn('peer announced a wrong blob size', { digest, peer: liar, announced: located.size, actual: found.length });
      throw new Error(`peer ${liar} announced ${located.size} bytes for ${digest}, which has ${found.length}`);
    }
    return found;
  }

  /**
   * A large blob streamed through a digest check (length only for a partial range) that holds back the last
   * chunk; a peer that breaks off is replaced by the next one from the byte reached, with a Range request.
   */
  async *#stream(digest: string, path: string, located: Located, range: ByteRange, signal: AbortSignal): AsyncGenerator<Buffer> {
    const whole = range.offset === 0 && range.length === located.size;
    const check = new StreamCheck(whole ? { digest, size: located.size } : { size: range.length });
    const contributors = new Set<string>();
    let received = 0;
    for await (const peer of this.#candidates(digest, signal, located.peer)) {
      const start = range.offset + received;
      const end = range.offset + range.length - 1;
      const partial = start > 0 || end < located.size - 1;
      const key = peerKey(peer);
      let res: Dispatcher.ResponseData;
      try {
        res = await this.#request(peer, 'GET', path, { signal, range: partial ? `bytes=${start}-${end}` : undefined, bodyTimeoutMs: this.#bodyTimeoutMs });
      } catch (err) {
        this.#failed(peer, this.#classify(err, signal), err);
        continue;
      }
      try {
        if (res.statusCode === 404) {
          this.#failed(peer, 'not-found');
          continue;
        }
        const expectedStatus = partial ? 206 : 200;
        const contentRange = header(res.headers, 'content-range');
        const contentLength = Number(header(res.headers, 'content-length'));
        if (res.statusCode !== expectedStatus || contentLength !== end - start + 1 || (partial && contentRange !== `bytes ${start}-${end}/${located.size}`)) {
          this.#failed(peer, 'peer-error', new Error(`GET blob answered ${res.statusCode} (${contentRange ?? 'no range'}, ${contentLength} bytes) for ${partial ? `bytes=${start}-${end}` : 'the whole blob'}`));
          continue;
        }
        if (received > 0) this.#logger.info('resuming a broken peer stream on another peer', { digest, peer: key, range: `bytes=${start}-${end}` });
        contributors.add(key);
        const label = this.#metrics.peerLabel(key);
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            received += chunk.length;
            this.#metrics.peerBytes.inc({ peer: label }, chunk.length);
            yield* check.push(chunk);
          }
          if (received < range.length) throw new PeerAttemptError('peer-error', `stream ended after ${received} of ${range.length} bytes`);
          yield* check.finish();
        } catch (err) {
          if (err instanceof IntegrityError) {
            // The bytes may have come from several peers; every one of them is suspect.
            for (const suspect of contributors) this.#health.penalise(suspect, 'digest-mismatch');
            this.#metrics.fallbacks.inc({ reason: 'digest-mismatch' });
            this.#logger.warn('peer served a blob that does not match its digest; cutting the stream', { digest, peers: [...contributors], received, err: err.message });
            throw err;
          }
          if (signal.aborted) throw err;
          this.#failed(peer, this.#classify(err, signal), err);
          continue;
        }
        this.#health.succeeded(key);
        return;
      } finally {
        // Ends the peer response whether it was read to the end, broken, or abandoned by our consumer.
        if (!res.body.destroyed) res.body.destroy();
      }
    }
    if (signal.aborted) throw signal.reason;
    throw new Error(`no peer could serve ${digest} from byte ${range.offset + received}`);
  }

  /**
   * Asks one peer after another (at most 1 + retries, skipping peers in cool-off) until `attempt` returns a
   * value; undefined when none has it. A failing peer is penalised and counted, and the next one is tried.
   */
  async #lookup<T>(
    key: ContentKey,
    signal: AbortSignal,
    attempt: (peer: URL, deadline: AbortSignal) => Promise<T | undefined>,
    options: { prefer?: URL; bodyDeadline?: boolean } = {},
  ): Promise<T | undefined> {
    let failures = 0;
    for await (const peer of this.#candidates(key, signal, options.prefer)) {
      // Small blobs get the idle timeout per chunk (undici's bodyTimeout) instead of the lookup deadline.
      const deadline = options.bodyDeadline ? signal : AbortSignal.any([signal, AbortSignal.timeout(this.#requestTimeoutMs)]);
      try {
        const found = await attempt(peer, deadline);
        if (found !== undefined) {
          this.#health.succeeded(peerKey(peer));
          return found;
        }
        this.#failed(peer, 'not-found');
      } catch (err) {
        if (signal.aborted) throw err;
        failures++;
        this.#failed(peer, this.#classify(err, signal), err);
      }
    }
    if (failures > 0) throw new Error(`${failures} peer(s) failed to answer for ${key}`);
    return undefined;
  }

  /** The peers to try for `key`: `prefer` first, then the Resolver's, without repeats or peers in cool-off. */
  async *#candidates(key: ContentKey, signal: AbortSignal, prefer?: URL): AsyncGenerator<URL> {
    let budget = this.#retries + 1;
    const seen = new Set<string>();
    const usable = (peer: URL): boolean => {
      const id = peerKey(peer);
      if (seen.has(id)) return false;
      seen.add(id);
      if (peerIdOf(peer) === undefined) {
        this.#logger.warn('resolver yielded a peer URL without a peer ID; skipping it', { peer: peerOrigin(peer) });
        return false;
      }
      if (id === this.#signer.peerId) return false;
      if (this.#health.coolingOff(id)) {
        this.#metrics.fallbacks.inc({ reason: 'filtered' });
        this.#logger.debug('skipping a peer in cool-off', { key, peer: id, until: this.#health.coolOffEnds(id) });
        return false;
      }
      return true;
    };
    if (prefer && usable(prefer)) {
      budget--;
      yield prefer;
    }
    if (budget <= 0) return;
    const resolving = new AbortController();
    const stop = (): void => resolving.abort();
    signal.addEventListener('abort', stop, { once: true });
    const peers = this.#resolver.resolve(key, resolving.signal)[Symbol.asyncIterator]();
    try {
      while (budget > 0 && !signal.aborted) {
        const next = await this.#nextWithin(peers);
        if (next === undefined) return;
        if (!usable(next)) continue;
        budget--;
        yield next;
      }
    } finally {
      signal.removeEventListener('abort', stop);
      resolving.abort();
      // The resolver ends on the abort; its return() settles on its own and only cleans up.
      peers.return?.(undefined).catch(() => undefined);
    }
  }

  /** The resolver's next peer, or undefined when it is done or takes longer than resolveTimeoutMs. */
  async #nextWithin(peers: AsyncIterator<URL>): Promise<URL | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const next = peers.next();
    next.catch(() => undefined);
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#resolveTimeoutMs);
    });
    try {
      const result = await Promise.race([next, timeout]);
      if (result === 'timeout' || result.done) return undefined;
      return result.value;
    } catch (err) {
      this.#logger.warn('resolver failed', { err });
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** One signed, marked request to a peer. */
  async #request(peer: URL, method: 'GET' | 'HEAD', path: string, options: { signal: AbortSignal; range?: string | undefined; bodyTimeoutMs?: number }): Promise<Dispatcher.ResponseData> {
    const peerId = peerIdOf(peer);
    if (peerId === undefined) throw new PeerAttemptError('peer-error', 'peer URL without a peer ID');
    const headers: Record<string, string> = {
      authorization: await this.#signer.authorization(method, path, peerId),
      [peerMarkerHeader]: peerMarkerValue,
    };
    if (options.range !== undefined) headers['range'] = options.range;
    return this.#dispatcher.request({
      origin: peerOrigin(peer),
      path,
      method,
      headers,
      signal: options.signal,
      headersTimeout: this.#requestTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs ?? this.#bodyTimeoutMs,
    });
  }

  /** Reads a body of at most `limit` bytes (more is a lie about the size); counts the bytes per peer. */
  async #readBody(res: Dispatcher.ResponseData, limit: number, peer?: URL): Promise<Buffer> {
    const declared = Number(header(res.headers, 'content-length'));
    if (Number.isSafeInteger(declared) && declared > limit) {
      res.body.destroy();
      throw new PeerAttemptError('peer-error', `body of ${declared} bytes is over the ${limit}-byte limit`);
    }
    const parts: Buffer[] = [];
    let total = 0;
    const label = peer ? this.#metrics.peerLabel(peerKey(peer)) : undefined;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (label !== undefined) this.#metrics.peerBytes.inc({ peer: label }, chunk.length);
      if (total > limit) {
        res.body.destroy();
        throw new PeerAttemptError('digest-mismatch', `body longer than the expected ${limit} bytes`);
      }
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  }

  #verify(digest: string, bytes: Buffer): void {
    try {
      verifyDigest(digest, bytes);
    } catch (err) {
      throw new PeerAttemptError('digest-mismatch', (err as Error).message);
    }
  }

  #classify(err: unknown, signal: AbortSignal): Outcome {
    if (err instanceof PeerAttemptError) return err.reason;
    if (err instanceof IntegrityError) return 'digest-mismatch';
    if (signal.aborted) return 'peer-error';
    const code = (err as { code?: unknown } | undefined)?.code;
    const name = (err as { name?: unknown } | undefined)?.name;
    if (name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
    return 'peer-error';
  }

  /** Counts the fallback from `peer` and, unless it simply lacked the content, penalises it. */
  #failed(peer: URL, reason: Outcome, err?: unknown): void {
    const key = peerKey(peer);
    this.#metrics.fallbacks.inc({ reason });
    if (reason === 'not-found') {
      this.#logger.debug('peer does not hold the content', { peer: key });
      return;
    }
    const coolOffMs = this.#health.penalise(key, reason);
    this.#logger.warn('peer failed; trying the next one', { peer: key, origin: peerOrigin(peer), reason, coolOffMs, err: err instanceof Error ? err.message : err });
  }

  #locate(digest: string, located: Located): void {
    this.#located.delete(digest);
    this.#located.set(digest, located);
    if (this.#located.size > maxLocated) {
      const oldest = this.#located.keys().next();
      if (!oldest.done) this.#located.delete(oldest.value);
    }
  }

  #cacheManifest(digest: string, bytes: Buffer): void {
    this.#manifestBytes -= this.#manifests.get(digest)?.length ?? 0;
    this.#manifests.delete(digest);
    this.#manifests.set(digest, bytes);
    this.#manifestBytes += bytes.length;
    for (const [oldest, old] of this.#manifests) {
      if (this.#manifests.size <= maxCachedManifests && this.#manifestBytes <= maxCachedManifestBytes) break;
      this.#manifests.delete(oldest);
      this.#manifestBytes -= old.length;
    }
  }
}
