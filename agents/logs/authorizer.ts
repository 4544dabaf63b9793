// Who may read a Workload's logs, decided by the API server as kubelet does it: TokenReview for the bearer token,
// then a SubjectAccessReview for `get workloads/log`. Decisions are cached briefly (bounded), so a follow that
// reconnects or a burst of requests costs the API server two calls at most per token, workload and TTL.
import { createHash } from 'node:crypto';
import type { Counter } from 'prom-client';
import type { KubeApi } from '../../operator/src/runtime/kube.ts';
import { HttpError } from './http-error.ts';
import type { LogsTarget } from './params.ts';

export interface ReviewedUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

interface TokenReview {
  status?: { authenticated?: boolean; user?: ReviewedUser; error?: string };
}

interface SubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

type Decision = { allowed: true; user: string } | { allowed: false; status: 401 | 403; message: string };

export type ReviewResult = 'cached' | 'allowed' | 'forbidden' | 'unauthenticated' | 'error';

export interface AuthorizerOptions {
  client: Pick<KubeApi, 'request'>;
  /** How long a decision is reused; default 10 s. */
  ttlMs?: number;
  /** Cached decisions at most; the oldest go first. Default 1024. */
  maxEntries?: number;
  now?: () => number;
  reviews?: Counter<'result'>;
}

export const logsPermission = { verb: 'get', group: 'shoal.dev', resource: 'workloads', subresource: 'log' } as const;

export class LogsAuthorizer {
  readonly #client: Pick<KubeApi, 'request'>;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #reviews: Counter<'result'> | undefined;
  readonly #cache = new Map<string, { expiresAt: number; decision: Promise<Decision> }>();

  constructor(options: AuthorizerOptions) {
    this.#client = options.client;
    this.#ttlMs = options.ttlMs ?? 10_000;
    this.#maxEntries = options.maxEntries ?? 1024;
    this.#now = options.now ?? Date.now;
    this.#reviews = options.reviews;
  }

  get size(): number {
    return this.#cache.size;
  }

  /** Resolves with the caller's user name, or throws an HttpError (401 or 403); API failures throw as they are. */
  async authorize(token: string | undefined, target: LogsTarget): Promise<string> {
    if (!token) throw new HttpError(401, 'Unauthorized: a bearer token is required (Authorization: Bearer <token>)');
    // The token itself is never kept, only its hash.
    const key = `${createHash('sha256').update(token).digest('hex')}/${target.namespace}/${target.name}`;
    const now = this.#now();
    let entry = this.#cache.get(key);
    if (entry && entry.expiresAt > now) {
      this.#reviews?.inc({ result: 'cached' });
    } else {
      const fresh = { expiresAt: now + this.#ttlMs, decision: this.#review(token, target) };
      this.#remember(key, fresh, now);
      // Failures are retried by the next request, not cached.
      fresh.decision.catch(() => this.#cache.get(key) === fresh && this.#cache.delete(key));
      entry = fresh;
    }
    const decision = await entry.decision;
    if (!decision.allowed) throw new HttpError(decision.status, decision.message);
    return decision.user;
  }

  #remember(key: string, entry: { expiresAt: number; decision: Promise<Decision> }, now: number): void {
    this.#cache.delete(key);
    if (this.#cache.size >= this.#maxEntries) {
      for (const [k, e] of this.#cache) if (e.expiresAt <= now) this.#cache.delete(k);
    }
    // Map iteration is insertion order, so the first key is the oldest.
    while (this.#cache.size >= this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(key, entry);
  }

  async #review(token: string, target: LogsTarget): Promise<Decision> {
    try {
      const decision = await this.#decide(token, target);
      this.#reviews?.inc({ result: decision.allowed ? 'allowed' : decision.status === 401 ? 'unauthenticated' : 'forbidden' });
      return decision;
    } catch (err) {
      this.#reviews?.inc({ result: 'error' });
      throw err;
    }
  }

  async #decide(token: string, { namespace, name }: LogsTarget): Promise<Decision> {
    const review = await this.#client.request<TokenReview>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    const user = review.status?.user;
    if (!review.status?.authenticated || !user?.username) return { allowed: false, status: 401, message: 'Unauthorized: the bearer token was not accepted by the API server' };
    const access = await this.#client.request<SubjectAccessReview>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          ...(user.groups ? { groups: user.groups } : {}),
          ...(user.extra ? { extra: user.extra } : {}),
          resourceAttributes: { ...logsPermission, namespace, name },
        },
      },
    });
    if (access.status?.allowed && !access.status.denied) return { allowed: true, user: user.username };
    const why = access.status?.reason ? `: ${access.status.reason}` : '';
    const message = `workloads.shoal.dev "${name}" is forbidden: User "${user.username}" cannot get resource "workloads/log" in API group "shoal.dev" in the namespace "${namespace}"${why}`;
    return { allowed: false, status: 403, message };
  }
}
