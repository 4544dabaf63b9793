// Images service: containerd's image records (name → target descriptor). CRI creates three records per
// pulled image in namespace k8s.io: the tag ref, the digest ref, and the config digest ("sha256:…" = image id).
import { message, messages, optionalMessage, str, stringMap, timestamp } from "./decode.js";
import { decodeDescriptor } from "./types.js";
function decodeImage(value) {
    const i = message(value, 'image');
    const createdAt = timestamp(i, 'created_at');
    const updatedAt = timestamp(i, 'updated_at');
    return {
        name: str(i, 'name'),
        labels: stringMap(i, 'labels'),
        target: decodeDescriptor(i['target'] ?? {}),
        ...(createdAt ? { createdAt } : {}),
        ...(updatedAt ? { updatedAt } : {}),
    };
}
export class Images {
    #rpc;
    constructor(rpc) {
        this.#rpc = rpc;
    }
    /** The image record `name` (full ref, e.g. "registry:5000/shoal/busybox:1.36"); NOT_FOUND if absent. */
    async get(name, options) {
        const res = await this.#rpc.unary('images', 'Get', { name }, options);
        const image = optionalMessage(res['image'], 'image');
        if (!image)
            throw new Error(`images.Get ${name}: response without image`);
        return decodeImage(image);
    }
    /** Images matching any of `filters` (e.g. `name==…`, `target.digest==sha256:…`, label filters). */
    async list(filters = [], options) {
        const res = await this.#rpc.unary('images', 'List', { filters }, options);
        return messages(res, 'images').map(decodeImage);
    }
}
