// The media type of a manifest blob read by digest: the content store keeps no media types, and the
// response's Content-Type must be the manifest's own (containerd decides how to parse it from that header).
import { mediaTypes } from '../runtime/containerd/image.ts';

export const manifestMediaTypes: ReadonlySet<string> = new Set([mediaTypes.ociIndex, mediaTypes.ociManifest, mediaTypes.dockerManifestList, mediaTypes.dockerManifest]);

/** containerd, like registries, refuses manifests above 4 MiB; we never read larger blobs as manifests. */
export const maxManifestBytes = 4 * 1024 * 1024;

/**
 * The manifest media type of `blob`, or undefined when it is not a manifest we serve (a layer, a config,
 * Docker schema 1, invalid JSON). Uses the document's `mediaType`, else its shape, as OCI allows omitting it.
 */
export function manifestMediaType(blob: Buffer): string | undefined {
  if (blob.length > maxManifestBytes || blob[0] !== 0x7b /* { */) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(blob.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const fields = doc as Record<string, unknown>;
  if (fields['schemaVersion'] !== 2) return undefined;
  const declared = fields['mediaType'];
  if (typeof declared === 'string') return manifestMediaTypes.has(declared) ? declared : undefined;
  if (Array.isArray(fields['manifests'])) return mediaTypes.ociIndex;
  if (typeof fields['config'] === 'object' && fields['config'] !== null && Array.isArray(fields['layers'])) return mediaTypes.ociManifest;
  return undefined;
}
