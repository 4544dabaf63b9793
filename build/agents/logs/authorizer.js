// Who may read a Workload's logs, decided by the API server as kubelet does it: TokenReview for the bearer token,
// then a SubjectAccessReview for `get workloads/log`. Decisions are cached briefly (bounded), so a follow that
// reconnects or a burst of requests costs the API server two calls at most per token, workload and TTL.
import { createHash } from 'node:crypto';
import { HttpError } from "./http-error.js";
export const logsPermission = { verb: 'get', group: 'shoal.dev', resource: 'workloads', subresource: 'log' };
export class LogsAuthorizer {
    #client;
    #ttlMs;
    #maxEntries;
    #now;
    #reviews;
    #cache = new Map();
    constructor(options) {
        this.#client = options.client;
        this.#ttlMs = options.ttlMs ?? 10_000;
        this.#maxEntries = options.maxEntries ?? 1024;
        this.#now = options.now ?? Date.now;
        this.#reviews = options.reviews;
    }
    get size() {
        return this.#cache.size;
    }
    /** Resolves with the caller's user name, or throws an HttpError (401 or 403); API failures throw as they are. */
    async authorize(token, target) {
        if (!token)
            throw new HttpError(401, 'Unauthorized: a bearer token is required (Authorization: Bearer <token>)');
        // The token itself is never kept, only its hash.
        const key = `${createHash('sha256').update(token).digest('hex')}/${target.namespace}/${target.name}`;
        const now = this.#now();
        let entry = this.#cache.get(key);
        if (entry && entry.expiresAt > now) {
            this.#reviews?.inc({ result: 'cached' });
        }
        else {
            const fresh = { expiresAt: now + this.#ttlMs, decision: this.#review(token, target) };
            this.#remember(key, fresh, now);
            // Failures are retried by the next request, not cached.
            fresh.decision.catch(() => this.#cache.get(key) === fresh && this.#cache.delete(key));
            entry = fresh;
        }
        const decision = await entry.decision;
        if (!decision.allowed)
            throw new HttpError(decision.status, decision.message);
        return decision.user;
    }
    #remember(key, entry, now) {
        this.#cache.delete(key);
        if (this.#cache.size >= this.#maxEntries) {
            for (const [k, e] of this.#cache)
                if (e.expiresAt <= now)
                    this.#cache.delete(k);
        }
        // Map iteration is insertion order, so the first key is the oldest.
        while (this.#cache.size >= this.#maxEntries)
            this.#cache.delete(this.#cache.keys().next().value);
        this.#cache.set(key, entry);
    }
    async #review(token, target) {
        try {
            const decision = await this.#decide(token, target);
            this.#reviews?.inc({ result: decision.allowed ? 'allowed' : decision.status === 401 ? 'unauthenticated' : 'forbidden' });
            return decision;
        }
        catch (err) {
            this.#reviews?.inc({ result: 'error' });
            throw err;
        }
    }
    async #decide(token, { namespace, name }) {
        const review = await this.#client.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
            body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
        });
        const user = review.status?.user;
        if (!review.status?.authenticated || !user?.username)
            return { allowed: false, status: 401, message: 'Unauthorized: the bearer token was not accepted by the API server' };
        const access = await this.#client.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
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
        if (access.status?.allowed && !access.status.denied)
            return { allowed: true, user: user.username };
        const why = access.status?.reason ? `: ${access.status.reason}` : '';
        const message = `workloads.shoal.dev "${name}" is forbidden: User "${user.username}" cannot get resource "workloads/log" in API group "shoal.dev" in the namespace "${namespace}"${why}`;
        return { allowed: false, status: 403, message };
    }
}
