// Loads the vendored .proto files (proto/) once: gRPC service constructors for @grpc/grpc-js and a
// protobufjs Root to encode/decode google.protobuf.Any payloads (events) by their type name.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
export const protoDir = join(import.meta.dirname, 'proto');
const api = 'github.com/containerd/containerd/api';
/** Every file we load; imports (types, gogo.proto, google/protobuf/*) are resolved from these. */
export const protoFiles = [
    `${api}/services/version/v1/version.proto`,
    `${api}/services/containers/v1/containers.proto`,
    `${api}/services/tasks/v1/tasks.proto`,
    `${api}/services/snapshots/v1/snapshots.proto`,
    `${api}/services/images/v1/images.proto`,
    `${api}/services/content/v1/content.proto`,
    `${api}/services/events/v1/events.proto`,
    `${api}/services/leases/v1/leases.proto`,
    `${api}/events/task.proto`,
    `${api}/events/container.proto`,
    `${api}/events/image.proto`,
    `${api}/events/content.proto`,
    `${api}/events/snapshot.proto`,
    'github.com/containerd/containerd/runtime/v2/runc/options/oci.proto',
    'k8s.io/cri-api/pkg/apis/runtime/v1/api.proto',
];
/** How decoded messages look: proto field names (snake_case), 64-bit ints as strings, enums as names. */
export const decodeOptions = {
    longs: String,
    enums: String,
    bytes: Buffer,
    defaults: true,
    arrays: true,
    objects: true,
    oneofs: true,
};
const loaderOptions = { keepCase: true, ...decodeOptions };
/** The gRPC services we call, by fully-qualified proto name. */
export const serviceNames = {
    version: 'containerd.services.version.v1.Version',
    containers: 'containerd.services.containers.v1.Containers',
    tasks: 'containerd.services.tasks.v1.Tasks',
    snapshots: 'containerd.services.snapshots.v1.Snapshots',
    images: 'containerd.services.images.v1.Images',
    content: 'containerd.services.content.v1.Content',
    events: 'containerd.services.events.v1.Events',
    leases: 'containerd.services.leases.v1.Leases',
    criImages: 'runtime.v1.ImageService',
    criRuntime: 'runtime.v1.RuntimeService',
};
let loaded;
/** Parses proto/ on first use (≈50 ms) and caches the result for the process. */
export function protos() {
    loaded ??= load();
    return loaded;
}
function load() {
    registerDescriptorProto();
    const root = new protobuf.Root();
    // Imports are written as upstream paths ("gogoproto/gogo.proto", "github.com/…"): resolve them under proto/.
    root.resolvePath = (_origin, target) => {
        const local = join(protoDir, target);
        return existsSync(local) ? local : target; // google/protobuf/* falls through to protobufjs' bundled copies
    };
    root.loadSync(protoFiles.map((file) => join(protoDir, file)), { keepCase: true });
    root.resolveAll();
    const definition = fromJSON(root.toJSON(), loaderOptions);
    const packageObject = grpc.loadPackageDefinition(definition);
    const services = {};
    for (const [key, name] of Object.entries(serviceNames)) {
        services[key] = lookupService(packageObject, name);
    }
    return { root, services };
}
function lookupService(pkg, name) {
    let node = pkg;
    for (const part of name.split('.')) {
        node = typeof node === 'object' || typeof node === 'function' ? node?.[part] : undefined;
    }
    if (typeof node !== 'function' || !('service' in node))
        throw new Error(`proto service ${name} not found in ${protoDir}`);
    return node;
}
/** gogo.proto imports google/protobuf/descriptor.proto, which protobufjs ships as JSON but does not pre-register. */
function registerDescriptorProto() {
    const require = createRequire(import.meta.url);
    const json = require('protobufjs/google/protobuf/descriptor.json');
    const nested = json
        .nested?.google?.nested?.protobuf?.nested;
    if (!nested)
        throw new Error('protobufjs/google/protobuf/descriptor.json has an unexpected shape');
    protobuf.common('descriptor', nested);
}
/** Decodes `bytes` as the message `typeName` (e.g. "containerd.events.TaskExit") into a plain object. */
export function decodeMessage(typeName, bytes) {
    const type = protos().root.lookupType(typeName);
    return type.toObject(type.decode(bytes), decodeOptions);
}
/** Encodes a plain object (proto field names) as the message `typeName`, e.g. for an Any value. */
export function encodeMessage(typeName, value) {
    const type = protos().root.lookupType(typeName);
    // fromObject drops unknown keys silently; a typo must not turn into a missing option.
    for (const key of Object.keys(value))
        if (!type.fields[key])
            throw new Error(`${typeName} has no field ${key}`);
    return Buffer.from(type.encode(type.fromObject(value)).finish());
}
/** Whether the loaded protos define the message `typeName`. */
export function hasMessage(typeName) {
    try {
        protos().root.lookupType(typeName);
        return true;
    }
    catch {
        return false;
    }
}
