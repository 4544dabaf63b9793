// Content service: the blob store (manifests, configs, layers) addressed by digest, plus the in-progress
// ingests ("statuses") a pull is writing — the pull watcher polls listStatuses() for progress.
import { createHash } from 'node:crypto';
import { bytes, message, messages, num, str, stringMap, timestamp } from "./decode.js";
function decodeInfo(value) {
    const i = message(value, 'content info');
    const createdAt = timestamp(i, 'created_at');
    const updatedAt = timestamp(i, 'updated_at');
    return {
        digest: str(i, 'digest'),
        size: num(i, 'size'),
        ...(createdAt ? { createdAt } : {}),
        ...(updatedAt ? { updatedAt } : {}),
        labels: stringMap(i, 'labels'),
    };
}
function decodeStatus(value) {
    const s = message(value, 'content status');
    const startedAt = timestamp(s, 'started_at');
    const updatedAt = timestamp(s, 'updated_at');
    return {
        ref: str(s, 'ref'),
        offset: num(s, 'offset'),
        total: num(s, 'total'),
        expected: str(s, 'expected'),
        ...(startedAt ? { startedAt } : {}),
        ...(updatedAt ? { updatedAt } : {}),
    };
}
export class Content {
    #rpc;
    constructor(rpc) {
        this.#rpc = rpc;
    }
    async info(digest, options) {
        const res = await this.#rpc.unary('content', 'Info', { digest }, options);
        return decodeInfo(res['info']);
    }
    /** Blobs matching any of `filters` (label filters, `digest==…`); empty = all. */
    async list(filters = [], options) {
        const batches = await this.#rpc.collect('content', 'List', { filters }, options);
        return batches.flatMap((batch) => messages(batch, 'info').map(decodeInfo));
    }
    /** In-progress ingests (partial downloads), e.g. filters `ref~="layer-"`. Empty when nothing is being pulled. */
    async listStatuses(filters = [], options) {
        const res = await this.#rpc.unary('content', 'ListStatuses', { filters }, options);
        return messages(res, 'statuses').map(decodeStatus);
    }
    /** Streams a blob in chunks (containerd sends ≤1 MiB each); no deadline unless given. */
    read(digest, options = {}) {
        const stream = this.#rpc.serverStream('content', 'Read', { digest, offset: String(options.offset ?? 0), size: String(options.size ?? 0) }, options);
        async function* chunks() {
            for await (const msg of stream)
                yield bytes(msg, 'data');
        }
        const iterator = chunks();
        return { cancel: () => stream.cancel(), [Symbol.asyncIterator]: () => iterator };
    }
    /**
     * Reads a whole (small) blob and checks it against its digest — for manifests and configs, not layers.
     * Rejects blobs larger than `maxBytes` (default 4 MiB, like containerd's own manifest limit).
     */
    async readAll(digest, options = {}) {
        const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
        const timeoutMs = options.timeoutMs === undefined ? 30_000 : options.timeoutMs;
        const parts = [];
        let total = 0;
        const stream = this.read(digest, { ...options, timeoutMs });
        for await (const chunk of stream) {
            total += chunk.length;
            if (total > maxBytes) {
                stream.cancel();
                throw new Error(`blob ${digest} is larger than ${maxBytes} bytes`);
            }
            parts.push(chunk);
        }
        const blob = Buffer.concat(parts);
        verifyDigest(digest, blob);
        return blob;
    }
}
/** Throws unless `blob` hashes to `digest` ("sha256:<hex>" or "sha512:<hex>"). */
export function verifyDigest(digest, blob) {
    const [algorithm, hex] = digest.split(':', 2);
    if ((algorithm !== 'sha256' && algorithm !== 'sha512') || !hex)
        throw new Error(`unsupported digest ${digest}`);
    const actual = createHash(algorithm).update(blob).digest('hex');
    if (actual !== hex)
        throw new Error(`blob digest mismatch: expected ${digest}, got ${algorithm}:${actual}`);
}
