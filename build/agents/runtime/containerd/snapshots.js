// Snapshots service: copy-on-write filesystems. A container rootfs is an *active* snapshot prepared on top
// of the image's top *committed* layer snapshot, whose name is the image's chain ID (image.ts).
import { message, messages, num, str, stringMap, timestamp } from "./decode.js";
import { decodeMount } from "./types.js";
/** CRI's default snapshotter: images pulled through CRI are unpacked here. */
export const defaultSnapshotter = 'overlayfs';
function kind(value) {
    const lower = value.toLowerCase();
    return lower === 'view' || lower === 'active' || lower === 'committed' ? lower : 'unknown';
}
function decodeInfo(value) {
    const i = message(value, 'snapshot info');
    const createdAt = timestamp(i, 'created_at');
    const updatedAt = timestamp(i, 'updated_at');
    return {
        name: str(i, 'name'),
        parent: str(i, 'parent'),
        kind: kind(str(i, 'kind')),
        ...(createdAt ? { createdAt } : {}),
        ...(updatedAt ? { updatedAt } : {}),
        labels: stringMap(i, 'labels'),
    };
}
export class Snapshots {
    #rpc;
    constructor(rpc) {
        this.#rpc = rpc;
    }
    /** Creates the writable snapshot `key` on top of `parent` (a chain ID; "" for an empty rootfs). */
    async prepare(snapshotter, key, parent, labels = {}, options) {
        const res = await this.#rpc.unary('snapshots', 'Prepare', { snapshotter, key, parent, labels }, options);
        return messages(res, 'mounts').map(decodeMount);
    }
    /** The mounts of an existing snapshot (e.g. to re-create a task after a restart). */
    async mounts(snapshotter, key, options) {
        const res = await this.#rpc.unary('snapshots', 'Mounts', { snapshotter, key }, options);
        return messages(res, 'mounts').map(decodeMount);
    }
    /** Removes a snapshot; FAILED_PRECONDITION while it still has children. */
    async remove(snapshotter, key, options) {
        await this.#rpc.unary('snapshots', 'Remove', { snapshotter, key }, options);
    }
    async stat(snapshotter, key, options) {
        const res = await this.#rpc.unary('snapshots', 'Stat', { snapshotter, key }, options);
        return decodeInfo(res['info']);
    }
    /** Snapshots matching any of `filters` (e.g. `kind==active`, `parent==sha256:…`, label filters). */
    async list(snapshotter, filters = [], options) {
        // Server-streaming in the API (batches of infos), collected because lists are short.
        const batches = await this.#rpc.collect('snapshots', 'List', { snapshotter, filters }, options);
        return batches.flatMap((batch) => messages(batch, 'info').map(decodeInfo));
    }
    /** Disk usage of a snapshot (bytes and inodes). */
    async usage(snapshotter, key, options) {
        const res = await this.#rpc.unary('snapshots', 'Usage', { snapshotter, key }, options);
        return { size: num(res, 'size'), inodes: num(res, 'inodes') };
    }
}
