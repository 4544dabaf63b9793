// Value types shared by several services (snapshots and tasks pass mounts; images and content use descriptors).
import { message, num, str, stringMap, strings, type Message } from './decode.ts';

/** containerd.types.Mount: how to mount one layer/rootfs (e.g. overlay with lowerdir/upperdir options). */
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

/** containerd.types.Descriptor: an OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
}

export function decodeMount(value: unknown): Mount {
  const m = message(value, 'mount');
  const target = str(m, 'target');
  return { type: str(m, 'type'), source: str(m, 'source'), ...(target ? { target } : {}), options: strings(m, 'options') };
}

export function encodeMount(mount: Mount): Message {
  return { type: mount.type, source: mount.source, target: mount.target ?? '', options: mount.options };
}

export function decodeDescriptor(value: unknown): Descriptor {
  const d = message(value, 'descriptor');
  return { mediaType: str(d, 'media_type'), digest: str(d, 'digest'), size: num(d, 'size'), annotations: stringMap(d, 'annotations') };
}
