// Leases service: a lease holds references that protect content and snapshots from containerd's garbage
// collector. Take one around multi-step setup (prepare snapshot → create container), delete it after.
import { randomBytes } from 'node:crypto';
import { message, messages, optionalMessage, str, stringMap, timestamp } from "./decode.js";
/** Label containerd's GC reads: the lease stops protecting anything after this RFC 3339 time. */
export const leaseExpireLabel = 'containerd.io/gc.expire';
function decodeLease(value) {
    const l = message(value, 'lease');
    const createdAt = timestamp(l, 'created_at');
    return { id: str(l, 'id'), ...(createdAt ? { createdAt } : {}), labels: stringMap(l, 'labels') };
}
export class Leases {
    #rpc;
    constructor(rpc) {
        this.#rpc = rpc;
    }
    async create(lease = {}, options) {
        const labels = { ...lease.labels };
        if (lease.expiresInMs !== undefined)
            labels[leaseExpireLabel] = new Date(Date.now() + lease.expiresInMs).toISOString();
        const id = lease.id ?? `shoal-${randomBytes(8).toString('hex')}`;
        const res = await this.#rpc.unary('leases', 'Create', { id, labels }, options);
        const created = optionalMessage(res['lease'], 'lease');
        return created ? decodeLease(created) : { id, labels };
    }
    /** Deletes the lease; with `sync` containerd runs GC before answering (resources freed on return). */
    async delete(id, opts = {}, options) {
        await this.#rpc.unary('leases', 'Delete', { id, sync: opts.sync ?? false }, options);
    }
    async list(filters = [], options) {
        const res = await this.#rpc.unary('leases', 'List', { filters }, options);
        return messages(res, 'leases').map(decodeLease);
    }
}
