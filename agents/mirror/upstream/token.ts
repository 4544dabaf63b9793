// The anonymous half of the distribution token flow: answer a `Bearer realm=…,service=…,scope=…` challenge
// with `GET <realm>?service=…&scope=…` and no credentials, and keep the token per repository until it expires.
// The mirror holds no pull secrets: when an anonymous token is refused, the content counts as not found.
import { request, type Dispatcher } from 'undici';
import type { Challenge } from './challenge.ts';
import { schemeAllowed } from './endpoint.ts';
import { UpstreamError } from './errors.ts';

export interface AnonymousTokensOptions {
  insecure: ReadonlySet<string>;
  dispatcher: Dispatcher | undefined;
  timeoutMs: number;
  userAgent: string;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Token servers answer with a few hundred bytes; anything far larger is not a token response. */
const maxTokenResponseBytes = 64 * 1024;
/** When `expires_in` is missing the spec says 60 s. */
const defaultLifetimeS = 60;
/** Refresh this early so a token does not expire between check and use. */
const expiryMarginMs = 10_000;
/** Repositories whose token is remembered; the oldest is dropped beyond this. */
const maxCachedTokens = 1024;

export class AnonymousTokens {
  readonly #options: AnonymousTokensOptions;
  readonly #cache = new Map<string, CachedToken>();

  constructor(options: AnonymousTokensOptions) {
    this.#options = options;
  }

  /** A still valid token for `key` (`<registry>/<repository>`), if one was fetched before. */
  cached(key: string): string | undefined {
    const entry = this.#cache.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > Date.now()) return entry.token;
    this.#cache.delete(key);
    return undefined;
  }

  forget(key: string): void {
    this.#cache.delete(key);
  }

  /** Answers `challenge` anonymously; undefined when the token server refuses (401/403). */
  async fetch(key: string, challenge: Challenge, repository: string, signal: AbortSignal): Promise<string | undefined> {
    const realm = parseRealm(challenge.params['realm']);
    if (!schemeAllowed(realm, this.#options.insecure)) throw new UpstreamError(`token realm ${realm.origin} is plain HTTP on a host not listed as insecure`);
    const service = challenge.params['service'];
    if (service !== undefined) realm.searchParams.set('service', service);
    // Registries put the scope in the challenge; when they do not, ask for pull on the repository.
    realm.searchParams.set('scope', challenge.params['scope'] ?? `repository:${repository}:pull`);
    const response = await request(realm, {
      method: 'GET',
      headers: { 'user-agent': this.#options.userAgent, accept: 'application/json' },
      signal,
      dispatcher: this.#options.dispatcher,
      headersTimeout: this.#options.timeoutMs,
      bodyTimeout: this.#options.timeoutMs,
    });
    if (response.statusCode === 401 || response.statusCode === 403) {
      await response.body.dump();
      return undefined;
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new UpstreamError(`token server ${realm.origin} answered ${response.statusCode}`);
    }
    const body = parseTokenBody((await readLimited(response.body, maxTokenResponseBytes)).toString('utf8'));
    if (body === undefined) throw new UpstreamError(`token server ${realm.origin} sent no token`);
    if (this.#cache.size >= maxCachedTokens) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    this.#cache.set(key, { token: body.token, expiresAt: Date.now() + Math.max(0, body.lifetimeS * 1000 - expiryMarginMs) });
    return body.token;
  }
}

function parseRealm(realm: string | undefined): URL {
  try {
    return new URL(realm ?? '');
  } catch {
    throw new UpstreamError(`invalid token realm ${JSON.stringify(realm)}`);
  }
}

/** `{token}` (Docker) or `{access_token}` (OAuth2 form), with `expires_in` seconds. */
export function parseTokenBody(text: string): { token: string; lifetimeS: number } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const fields = parsed as Record<string, unknown>;
  const token = typeof fields['token'] === 'string' && fields['token'] !== '' ? fields['token'] : fields['access_token'];
  if (typeof token !== 'string' || token === '') return undefined;
  const expires = fields['expires_in'];
  return { token, lifetimeS: typeof expires === 'number' && Number.isFinite(expires) && expires > 0 ? expires : defaultLifetimeS };
}

/** Reads a small body whole, refusing more than `limit` bytes. */
export async function readLimited(body: AsyncIterable<Uint8Array>, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > limit) throw new UpstreamError(`response body larger than ${limit} bytes`);
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}
