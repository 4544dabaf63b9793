// Events service: containerd's event stream (task exits, image pulls, …). Each envelope carries a
// google.protobuf.Any; we decode it by type name with the vendored event protos into a typed union.
import { any, bool, message, messages, num, optionalMessage, str, stringMap, timestamp } from "./decode.js";
import { decodeMessage, hasMessage } from "./protos.js";
import { decodeMount } from "./types.js";
const exitLike = (type) => (m) => {
    const exitedAt = timestamp(m, 'exited_at');
    return { type, containerId: str(m, 'container_id'), id: str(m, 'id'), pid: num(m, 'pid'), exitStatus: num(m, 'exit_status'), ...(exitedAt ? { exitedAt } : {}) };
};
/** Decoders by fully-qualified proto message name (= the type URL containerd sends). */
export const eventDecoders = {
    'containerd.events.TaskCreate': (m) => {
        const io = optionalMessage(m['io'], 'io') ?? {};
        return {
            type: 'TaskCreate',
            containerId: str(m, 'container_id'),
            bundle: str(m, 'bundle'),
            rootfs: messages(m, 'rootfs').map(decodeMount),
            io: { stdin: str(io, 'stdin'), stdout: str(io, 'stdout'), stderr: str(io, 'stderr'), terminal: bool(io, 'terminal') },
            checkpoint: str(m, 'checkpoint'),
            pid: num(m, 'pid'),
        };
    },
    'containerd.events.TaskStart': (m) => ({ type: 'TaskStart', containerId: str(m, 'container_id'), pid: num(m, 'pid') }),
    'containerd.events.TaskExit': exitLike('TaskExit'),
    'containerd.events.TaskDelete': exitLike('TaskDelete'),
    'containerd.events.TaskOOM': (m) => ({ type: 'TaskOOM', containerId: str(m, 'container_id') }),
    'containerd.events.TaskExecAdded': (m) => ({ type: 'TaskExecAdded', containerId: str(m, 'container_id'), execId: str(m, 'exec_id') }),
    'containerd.events.TaskExecStarted': (m) => ({ type: 'TaskExecStarted', containerId: str(m, 'container_id'), execId: str(m, 'exec_id'), pid: num(m, 'pid') }),
    'containerd.events.TaskPaused': (m) => ({ type: 'TaskPaused', containerId: str(m, 'container_id') }),
    'containerd.events.TaskResumed': (m) => ({ type: 'TaskResumed', containerId: str(m, 'container_id') }),
    'containerd.events.ContainerCreate': (m) => ({ type: 'ContainerCreate', id: str(m, 'id'), image: str(m, 'image'), runtime: str(optionalMessage(m['runtime'], 'runtime') ?? {}, 'name') }),
    'containerd.events.ContainerUpdate': (m) => ({ type: 'ContainerUpdate', id: str(m, 'id'), image: str(m, 'image'), labels: stringMap(m, 'labels'), snapshotKey: str(m, 'snapshot_key') }),
    'containerd.events.ContainerDelete': (m) => ({ type: 'ContainerDelete', id: str(m, 'id') }),
    // events/image.proto kept the images service package (containerd 1.x and 2.x alike).
    'containerd.services.images.v1.ImageCreate': (m) => ({ type: 'ImageCreate', name: str(m, 'name'), labels: stringMap(m, 'labels') }),
    'containerd.services.images.v1.ImageUpdate': (m) => ({ type: 'ImageUpdate', name: str(m, 'name'), labels: stringMap(m, 'labels') }),
    'containerd.services.images.v1.ImageDelete': (m) => ({ type: 'ImageDelete', name: str(m, 'name') }),
    'containerd.events.ContentDelete': (m) => ({ type: 'ContentDelete', digest: str(m, 'digest') }),
    'containerd.events.SnapshotPrepare': (m) => ({ type: 'SnapshotPrepare', key: str(m, 'key'), parent: str(m, 'parent') }),
    'containerd.events.SnapshotCommit': (m) => ({ type: 'SnapshotCommit', key: str(m, 'key'), name: str(m, 'name') }),
    'containerd.events.SnapshotRemove': (m) => ({ type: 'SnapshotRemove', key: str(m, 'key') }),
};
/**
 * The proto message name in an Any type URL. containerd 1.6 sends bare names ("containerd.events.TaskExit",
 * "containerd.services.images.v1.ImageCreate");
 * the protobuf convention is "<prefix>/<name>" (e.g. "type.googleapis.com/…"): accept both.
 */
export function typeNameFromUrl(typeUrl) {
    return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}
/** Decodes an event payload; unknown or undecodable types come back as { type: 'unknown' }. */
export function decodeEvent(payload) {
    const typeName = typeNameFromUrl(payload.typeUrl);
    const decoder = eventDecoders[typeName];
    if (!decoder || !hasMessage(typeName))
        return { type: 'unknown', typeUrl: payload.typeUrl, value: payload.value };
    return decoder(decodeMessage(typeName, payload.value));
}
function decodeEnvelope(value) {
    const e = message(value, 'envelope');
    const payload = any(e, 'event');
    const ts = timestamp(e, 'timestamp');
    return {
        ...(ts ? { timestamp: ts } : {}),
        namespace: str(e, 'namespace'),
        topic: str(e, 'topic'),
        event: payload ? decodeEvent(payload) : { type: 'unknown', typeUrl: '', value: Buffer.alloc(0) },
    };
}
export class Events {
    #rpc;
    constructor(rpc) {
        this.#rpc = rpc;
    }
    /**
     * Subscribes to events matching any of `filters` (see filters.ts: topicMatches, namespaceEquals), across
     * all namespaces unless filtered. No deadline; `cancel()` (or `break`, or `signal`) ends it cleanly.
     * containerd registers the subscription asynchronously and sends no acknowledgement: to be sure not to
     * miss an event, subscribe, then trigger a known event and wait for it before relying on the stream.
     * Events are not replayed: after a disconnect (UNAVAILABLE) re-list state, then re-subscribe.
     */
    subscribe(filters = [], options = {}) {
        const stream = this.#rpc.serverStream('events', 'Subscribe', { filters }, options);
        async function* envelopes() {
            for await (const msg of stream)
                yield decodeEnvelope(msg);
        }
        const iterator = envelopes();
        return { cancel: () => stream.cancel(), [Symbol.asyncIterator]: () => iterator };
    }
}
