// Value types shared by several services (snapshots and tasks pass mounts; images and content use descriptors).
import { message, num, str, stringMap, strings } from "./decode.js";
export function decodeMount(value) {
    const m = message(value, 'mount');
    const target = str(m, 'target');
    return { type: str(m, 'type'), source: str(m, 'source'), ...(target ? { target } : {}), options: strings(m, 'options') };
}
export function encodeMount(mount) {
    return { type: mount.type, source: mount.source, target: mount.target ?? '', options: mount.options };
}
export function decodeDescriptor(value) {
    const d = message(value, 'descriptor');
    return { mediaType: str(d, 'media_type'), digest: str(d, 'digest'), size: num(d, 'size'), annotations: stringMap(d, 'annotations') };
}
