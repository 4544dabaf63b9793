// Containers service: containerd's metadata records (id, labels, OCI spec, snapshot, runtime). A container
// record is not a process: the process is its task (tasks.ts).
import { any, message, messages, str, stringMap, timestamp } from "./decode.js";
import { encodeMessage } from "./protos.js";
/** Type URL containerd registers for an OCI runtime spec (value = the spec as JSON bytes). */
export const ociSpecTypeUrl = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
/** The runc shim v2, the runtime every Shoal container uses. */
export const runcRuntime = 'io.containerd.runc.v2';
/** Type URL of the runc shim's options (containerd 1.6 and later send the bare message name). */
export const runcOptionsTypeUrl = 'containerd.runc.v1.Options';
/** The container runtime options for the runc shim v2 (what CRI puts in [..runtimes.runc.options]). */
export function runcOptions(options) {
    return {
        typeUrl: runcOptionsTypeUrl,
        value: encodeMessage('containerd.runc.v1.Options', {
            root: options.root ?? '',
            systemd_cgroup: options.systemdCgroup ?? false,
            binary_name: options.binaryName ?? '',
        }),
    };
}
function isRawAny(value) {
    return 'typeUrl' in value && 'value' in value && Buffer.isBuffer(value.value);
}
/** Wraps an OCI spec object the way containerd's Go client does (typeurl JSON encoding). */
export function encodeSpec(spec) {
    return { typeUrl: ociSpecTypeUrl, value: Buffer.from(JSON.stringify(spec)) };
}
/** The container's OCI spec as a JSON object (undefined when it has none or it is not JSON-encoded). */
export function decodeSpec(record) {
    if (!record.spec || record.spec.typeUrl !== ociSpecTypeUrl)
        return undefined;
    const parsed = JSON.parse(record.spec.value.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : undefined;
}
function anyToWire(value) {
    return { type_url: value.typeUrl, value: value.value };
}
function decodeContainer(value) {
    const c = message(value, 'container');
    const runtime = message(c['runtime'] ?? {}, 'container.runtime');
    const runtimeOptions = any(runtime, 'options');
    const spec = any(c, 'spec');
    const extensions = {};
    for (const [key, ext] of Object.entries(message(c['extensions'] ?? {}, 'container.extensions'))) {
        const decoded = any({ ext }, 'ext');
        if (decoded)
            extensions[key] = decoded;
    }
    const createdAt = timestamp(c, 'created_at');
    const updatedAt = timestamp(c, 'updated_at');
    return {
        id: str(c, 'id'),
        labels: stringMap(c, 'labels'),
        image: str(c, 'image'),
        runtime: { name: str(runtime, 'name'), ...(runtimeOptions ? { options: runtimeOptions } : {}) },
        ...(spec ? { spec } : {}),
        snapshotter: str(c, 'snapshotter'),
        snapshotKey: str(c, 'snapshot_key'),
        ...(createdAt ? { createdAt } : {}),
        ...(updatedAt ? { updatedAt } : {}),
        extensions,
    };
}
export class Containers {
    #rpc;
    constructor(rpc) {
        this.#rpc = rpc;
    }
    async create(container, options) {
        const runtime = container.runtime ?? { name: runcRuntime };
        const spec = isRawAny(container.spec) ? container.spec : encodeSpec(container.spec);
        const res = await this.#rpc.unary('containers', 'Create', {
            container: {
                id: container.id,
                labels: container.labels ?? {},
                image: container.image ?? '',
                runtime: { name: runtime.name, ...(runtime.options ? { options: anyToWire(runtime.options) } : {}) },
                spec: anyToWire(spec),
                snapshotter: container.snapshotter ?? '',
                snapshot_key: container.snapshotKey ?? '',
            },
        }, options);
        return decodeContainer(res['container']);
    }
    async get(id, options) {
        const res = await this.#rpc.unary('containers', 'Get', { id }, options);
        return decodeContainer(res['container']);
    }
    /** Containers matching any of `filters` (each an AND of clauses; see filters.ts). Empty = all. */
    async list(filters = [], options) {
        const res = await this.#rpc.unary('containers', 'List', { filters }, options);
        return messages(res, 'containers').map(decodeContainer);
    }
    /** Deletes the record only: delete its task first (FAILED_PRECONDITION otherwise) and its snapshot after. */
    async delete(id, options) {
        await this.#rpc.unary('containers', 'Delete', { id }, options);
    }
    /** Sets (string) or removes (null) individual labels, leaving the others untouched. */
    async updateLabels(id, labels, options) {
        const set = {};
        for (const [key, value] of Object.entries(labels))
            if (value !== null)
                set[key] = value;
        const res = await this.#rpc.unary('containers', 'Update', { container: { id, labels: set }, update_mask: { paths: Object.keys(labels).map((key) => `labels.${key}`) } }, options);
        return decodeContainer(res['container']);
    }
}
