// Lease leader election with client-go's algorithm: a follower takes over only after the lease record has not
// changed for leaseDuration by its own clock (skew-safe); the leader gives up if it cannot renew within renewDeadline.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { sleep } from "./backoff.js";
import { kubeMicroTime } from "./conditions.js";
import { isConflict, isNotFound } from "./kube.js";
import { coreTypes, resourcePath } from "./resource.js";
export function defaultIdentity() {
    return `${hostname()}_${randomUUID()}`;
}
export class LeaderElector {
    identity;
    #o;
    #observed;
    #lastLeader = '';
    constructor(options) {
        this.identity = options.identity ?? defaultIdentity();
        this.#o = {
            leaseDurationMs: 15_000,
            renewDeadlineMs: 10_000,
            retryPeriodMs: 2_000,
            releaseOnCancel: true,
            ...options,
            identity: this.identity,
            logger: options.logger.child({ lease: `${options.namespace}/${options.name}`, identity: this.identity }),
        };
        if (this.#o.leaseDurationMs <= this.#o.renewDeadlineMs)
            throw new Error('leaseDuration must be greater than renewDeadline');
        this.#o.metrics?.leaderStatus.set({ name: this.#o.name }, 0);
        this.#o.metrics?.leaderSlowpath.inc({ name: this.#o.name }, 0);
    }
    /** Campaigns, leads, and returns when leadership is lost (returns true) or the signal aborts (returns false). */
    async run(signal, callbacks) {
        if (!(await this.#acquire(signal, callbacks)))
            return false;
        const leading = new AbortController();
        const stop = () => leading.abort();
        signal.addEventListener('abort', stop, { once: true });
        this.#o.metrics?.leaderStatus.set({ name: this.#o.name }, 1);
        this.#o.logger.info('became leader');
        callbacks.onStartedLeading(leading.signal);
        const lost = await this.#renewUntilLost(signal);
        leading.abort();
        signal.removeEventListener('abort', stop);
        this.#o.metrics?.leaderStatus.set({ name: this.#o.name }, 0);
        if (!lost && this.#o.releaseOnCancel)
            await this.#release();
        callbacks.onStoppedLeading?.();
        this.#o.logger.info(lost ? 'lost leadership' : 'stopped leading');
        return lost;
    }
    async #acquire(signal, callbacks) {
        this.#o.logger.info('attempting to acquire leader lease');
        while (!signal.aborted) {
            if (await this.#tryAcquireOrRenew(signal, callbacks))
                return true;
            await sleep(jittered(this.#o.retryPeriodMs), signal);
        }
        return false;
    }
    async #renewUntilLost(signal) {
        while (!signal.aborted) {
            const deadline = performance.now() + this.#o.renewDeadlineMs;
            let renewed = false;
            while (!signal.aborted && performance.now() < deadline) {
                if (await this.#tryAcquireOrRenew(AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, Math.ceil(deadline - performance.now())))]))) {
                    renewed = true;
                    break;
                }
                this.#o.metrics?.leaderSlowpath.inc({ name: this.#o.name });
                await sleep(this.#o.retryPeriodMs, signal);
            }
            if (signal.aborted)
                return false;
            if (!renewed)
                return true;
            await sleep(this.#o.retryPeriodMs, signal);
        }
        return false;
    }
    async #tryAcquireOrRenew(signal, callbacks) {
        const { client, namespace, name } = this.#o;
        const now = kubeMicroTime(new Date());
        const path = resourcePath(coreTypes.lease, namespace, name);
        try {
            const current = await client.request('GET', path, { signal });
            const spec = current.spec ?? {};
            this.#observe(current, callbacks);
            const heldByOther = !!spec.holderIdentity && spec.holderIdentity !== this.identity;
            if (heldByOther && !this.#expired())
                return false;
            const mine = spec.holderIdentity === this.identity;
            const next = {
                ...current,
                spec: {
                    holderIdentity: this.identity,
                    leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
                    acquireTime: mine ? (spec.acquireTime ?? now) : now,
                    renewTime: now,
                    leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
                },
            };
            // PUT with the read's resourceVersion: of two candidates racing for an expired lease, one gets 409.
            this.#observe(await client.request('PUT', path, { body: next, signal }), callbacks);
            return true;
        }
        catch (err) {
            if (isNotFound(err))
                return this.#create(signal, now, callbacks);
            if (!isConflict(err) && !signal.aborted)
                this.#o.logger.warn('lease update failed', { err });
            return false;
        }
    }
    async #create(signal, now, callbacks) {
        const { client, namespace, name } = this.#o;
        const lease = {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: { holderIdentity: this.identity, leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000), acquireTime: now, renewTime: now, leaseTransitions: 0 },
        };
        try {
            this.#observe(await client.request('POST', resourcePath(coreTypes.lease, namespace), { body: lease, signal }), callbacks);
            return true;
        }
        catch (err) {
            if (!isConflict(err))
                this.#o.logger.warn('lease create failed', { err });
            return false;
        }
    }
    // Expiry is judged by when *we* last saw the record change, not by the holder's timestamps (clock skew).
    #observe(lease, callbacks) {
        const record = JSON.stringify(lease.spec ?? {});
        if (this.#observed?.record !== record)
            this.#observed = { record, at: performance.now() };
        const holder = lease.spec?.holderIdentity ?? '';
        if (holder && holder !== this.#lastLeader) {
            this.#lastLeader = holder;
            if (holder !== this.identity)
                this.#o.logger.info('new leader observed', { leader: holder });
            callbacks?.onNewLeader?.(holder);
        }
    }
    #expired() {
        return !this.#observed || performance.now() - this.#observed.at > this.#o.leaseDurationMs;
    }
    // Re-read first: a renewal aborted by the stop may still have landed, leaving our copy's resourceVersion stale.
    async #release() {
        const { client, namespace, name } = this.#o;
        const path = resourcePath(coreTypes.lease, namespace, name);
        try {
            const current = await client.request('GET', path, { timeoutMs: 5_000 });
            if (current.spec?.holderIdentity !== this.identity)
                return;
            const released = { ...current, spec: { ...current.spec, holderIdentity: null, acquireTime: null, renewTime: null, leaseDurationSeconds: 1 } };
            await client.request('PUT', path, { body: released, timeoutMs: 5_000 });
            this.#o.logger.info('released leader lease');
        }
        catch (err) {
            this.#o.logger.warn('could not release leader lease', { err });
        }
    }
}
const jittered = (ms) => ms * (1 + 0.2 * Math.random());
