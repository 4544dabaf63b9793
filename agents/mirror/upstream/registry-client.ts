// A minimal, anonymous OCI distribution client for pull-through: GET a blob (with an optional byte range) or a
// manifest by digest from `<registry>/<repository>`, following redirects to object storage and answering
// Bearer challenges without credentials. "Not there" and "not for anonymous users" both come back as missing.
import { createHash } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { canonicalRegistry, canonicalRepository, isRegistryHost } from '../keys.ts';
import { manifestMediaType, manifestMediaTypes, maxManifestBytes } from '../manifest-type.ts';
import { isSha256Digest } from '../routes.ts';
import type { ByteRange } from '../source.ts';
import { IntegrityError } from '../verify.ts';
import type { Logger } from '../../../operator/src/runtime/log.ts';
import { bearerChallenge } from './challenge.ts';
import { registryOrigin, schemeAllowed } from './endpoint.ts';
import { UpstreamError } from './errors.ts';
import type { UpstreamMetrics } from './metrics.ts';
import { AnonymousTokens, readLimited } from './token.ts';

export interface RegistryClientOptions {
  logger: Logger;
  /** Registry hosts (`name` or `name:port`) reachable over plain HTTP besides loopback ones. */
  insecure?: readonly string[];
  /** Deadline for connecting and receiving response headers, per request; default 30 s. */
  headersTimeoutMs?: number;
  /** Longest silence between body chunks; default 60 s. */
  bodyTimeoutMs?: number;
  /** undici dispatcher (connection pool, TLS options); default undici's global one. */
  dispatcher?: Dispatcher;
  userAgent?: string;
  /** Counts body bytes received into `shoal_mirror_upstream_bytes_total`. */
  metrics?: UpstreamMetrics;
}

/** `not_found`: 404. `denied`: 401/403 even after the anonymous token flow (containerd retries with its credentials). */
export interface Missing {
  kind: 'missing';
  reason: 'not_found' | 'denied';
}

export interface BlobResponse {
  kind: 'found';
  /** Where the body starts in the blob: the range's offset on a 206, 0 when the registry sent the whole blob. */
  offset: number;
  /** Body length. */
  length: number;
  /** The whole blob's size. */
  size: number;
  body: AsyncIterable<Uint8Array>;
  /** Drops the connection without reading the body. */
  discard(): void;
}

export interface ManifestResponse {
  kind: 'found';
  mediaType: string;
  /** Checked against the digest asked for. */
  bytes: Buffer;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const maxRedirects = 5;
const manifestAccept = [...manifestMediaTypes].join(', ');

export class RegistryClient {
  readonly #insecure: ReadonlySet<string>;
  readonly #headersTimeoutMs: number;
  readonly #bodyTimeoutMs: number;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #userAgent: string;
  readonly #metrics: UpstreamMetrics | undefined;
  readonly #tokens: AnonymousTokens;
  readonly #logger: Logger;

  constructor(options: RegistryClientOptions) {
    this.#insecure = new Set((options.insecure ?? []).map((host) => host.toLowerCase()));
    this.#headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
    this.#bodyTimeoutMs = options.bodyTimeoutMs ?? 60_000;
    this.#dispatcher = options.dispatcher;
    this.#userAgent = options.userAgent ?? 'shoal-mirror';
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#tokens = new AnonymousTokens({ insecure: this.#insecure, dispatcher: this.#dispatcher, timeoutMs: this.#headersTimeoutMs, userAgent: this.#userAgent });
  }

  /** GETs a blob, or `range` of it (a non-empty range); the caller must read or `discard()` the body. */
  async blob(registry: string, repository: string, digest: string, range: ByteRange | undefined, signal: AbortSignal): Promise<BlobResponse | Missing> {
    const headers: Record<string, string> = {};
    if (range !== undefined) {
      if (!Number.isSafeInteger(range.offset) || !Number.isSafeInteger(range.length) || range.offset < 0 || range.length <= 0) {
        throw new RangeError(`invalid range ${range.offset}+${range.length}`);
      }
      headers['range'] = `bytes=${range.offset}-${range.offset + range.length - 1}`;
    }
    const answer = await this.#get(registry, repository, `blobs/${checkDigest(digest)}`, headers, signal);
    if (answer.kind === 'missing') return answer;
    const { response, url } = answer;
    const discard = (): void => {
      response.body.destroy();
    };
    try {
      const placement = bodyPlacement(response);
      return { kind: 'found', ...placement, body: this.#counted(registry, response.body), discard };
    } catch (err) {
      discard();
      throw new UpstreamError(`GET ${url.origin}${url.pathname}: ${(err as Error).message}`);
    }
  }

  /** GETs a manifest or index by digest, checking its bytes against the digest. */
  async manifest(registry: string, repository: string, digest: string, signal: AbortSignal): Promise<ManifestResponse | Missing> {
    const answer = await this.#get(registry, repository, `manifests/${checkDigest(digest)}`, { accept: manifestAccept }, signal);
    if (answer.kind === 'missing') return answer;
    const bytes = await readLimited(this.#counted(registry, answer.response.body), maxManifestBytes);
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest) throw new IntegrityError(`manifest digest mismatch: expected ${digest}, got ${actual}`);
    const contentType = header(answer.response.headers['content-type'])?.split(';')[0]?.trim();
    const mediaType = contentType !== undefined && manifestMediaTypes.has(contentType) ? contentType : manifestMediaType(bytes);
    if (mediaType === undefined) throw new UpstreamError(`${digest} from ${registry}/${repository} is not a manifest`);
    return { kind: 'found', mediaType, bytes };
  }

  /** GET with the anonymous token flow: one retry with a fresh token after a 401, then `denied`. */
  async #get(
    registry: string,
    repository: string,
    path: string,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<{ kind: 'found'; response: Dispatcher.ResponseData; url: URL } | Missing> {
    if (!isRegistryHost(registry)) throw new TypeError(`invalid registry host ${JSON.stringify(registry)}`);
    const repo = canonicalRepository(registry, repository);
    const url = new URL(`${registryOrigin(registry, this.#insecure)}/v2/${encodeRepository(repo)}/${path}`);
    const key = `${canonicalRegistry(registry)}/${repo}`;
    let token = this.#tokens.cached(key);
    let fresh = false;
    for (;;) {
      const response = await this.#follow(url, token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` }, signal);
      const status = response.statusCode;
      if (status === 200 || status === 206) return { kind: 'found', response, url };
      const challenge = status === 401 ? bearerChallenge(response.headers['www-authenticate']) : undefined;
      await response.body.dump().catch(() => undefined);
      if (status === 404) return { kind: 'missing', reason: 'not_found' };
      if (status === 403) return { kind: 'missing', reason: 'denied' };
      if (status !== 401) throw new UpstreamError(`GET ${url.origin}${url.pathname}: HTTP ${status}`);
      if (fresh || challenge === undefined) {
        this.#tokens.forget(key);
        this.#logger.debug('upstream refused anonymous access', { registry, repository: repo, path, scheme: challenge?.scheme });
        return { kind: 'missing', reason: 'denied' };
      }
      token = await this.#tokens.fetch(key, challenge, repo, signal);
      fresh = true;
      if (token === undefined) return { kind: 'missing', reason: 'denied' };
    }
  }

  /** One GET, following redirects (blobs go to object storage); credentials never follow to another origin. */
  async #follow(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    let current = url;
    let sent = { 'user-agent': this.#userAgent, ...headers };
    for (let hop = 0; ; hop++) {
      let response: Dispatcher.ResponseData;
      try {
        response = await request(current, {
          method: 'GET',
          headers: sent,
          signal,
          dispatcher: this.#dispatcher,
          headersTimeout: this.#headersTimeoutMs,
          bodyTimeout: this.#bodyTimeoutMs,
        });
      } catch (err) {
        if (signal.aborted) throw err;
        throw new UpstreamError(`GET ${current.origin}${current.pathname}: ${(err as Error).message}`, { cause: err });
      }
      if (!redirectStatuses.has(response.statusCode)) return response;
      await response.body.dump().catch(() => undefined);
      const location = header(response.headers['location']);
      if (location === undefined) throw new UpstreamError(`GET ${current.origin}${current.pathname}: redirect without Location`);
      if (hop >= maxRedirects) throw new UpstreamError(`GET ${url.origin}${url.pathname}: more than ${maxRedirects} redirects`);
      const next = new URL(location, current);
      if (!schemeAllowed(next, this.#insecure)) throw new UpstreamError(`redirect to ${next.origin} refused: plain HTTP to a host not listed as insecure`);
      if (next.origin !== current.origin) {
        const { authorization: _dropped, ...rest } = sent as Record<string, string>;
        sent = { 'user-agent': this.#userAgent, ...rest };
      }
      current = next;
    }
  }

  async *#counted(registry: string, body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    const bytes = this.#metrics?.bytes.labels({ registry: this.#metrics.registryLabel(canonicalRegistry(registry)) });
    for await (const chunk of body) {
      bytes?.inc(chunk.length);
      yield chunk;
    }
  }
}

function checkDigest(digest: string): string {
  if (!isSha256Digest(digest)) throw new TypeError(`invalid digest ${JSON.stringify(digest)}: expected sha256:<64 hex>`);
  return digest;
}

/** Each path segment percent-encoded, so a repository name cannot reach another API path. */
function encodeRepository(repository: string): string {
  const segments = repository.split('/');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) throw new TypeError(`invalid repository ${JSON.stringify(repository)}`);
  return segments.map(encodeURIComponent).join('/');
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Offset, length and total size from a 200 (`Content-Length`) or a 206 (`Content-Range: bytes a-b/total`). */
function bodyPlacement(response: Dispatcher.ResponseData): { offset: number; length: number; size: number } {
  if (response.statusCode === 206) {
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header(response.headers['content-range'])?.trim() ?? '');
    const [offset, last, size] = [Number(match?.[1]), Number(match?.[2]), Number(match?.[3])];
    if (!match || !Number.isSafeInteger(size) || offset > last || last >= size) throw new Error('206 without a usable Content-Range');
    return { offset, length: last - offset + 1, size };
  }
  const length = Number(header(response.headers['content-length']) ?? Number.NaN);
  if (!Number.isSafeInteger(length) || length < 0) throw new Error('no Content-Length');
  return { offset: 0, length, size: length };
}
