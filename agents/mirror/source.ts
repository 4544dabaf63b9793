// Where the server gets content from. The containerd store is the one source today (containerd-source.ts);
// the P2P slice adds a peer source (a Resolver to find peers, verify.ts on what they send) behind the same
// interface, and the server tries sources in order, the local one first.

/** A manifest as the server answers for it: `Content-Type`, `Content-Length`, `Docker-Content-Digest`. */
export interface ManifestDescriptor {
  digest: string;
  size: number;
  mediaType: string;
}

export interface BlobDescriptor {
  digest: string;
  size: number;
}

/**
 * Where containerd is pulling a blob from (`?ns=` and the repository in the path). Content stores ignore it; the
 * upstream sources need it to fetch the blob from its registry (upstream/).
 */
export interface BlobOrigin {
  registry: string;
  repository: string;
}

export interface ByteRange {
  offset: number;
  /** Bytes to read from `offset`; `offset + length` never exceeds the blob's size. */
  length: number;
}

/**
 * Every method resolves `undefined` when the source does not hold the content, and throws when it could not
 * find out (containerd down, a deadline, a peer failing): the server counts and logs those, then tries the
 * next source and finally answers 404, so containerd falls back to the next host either way.
 */
export interface ContentSource {
  /** For logs and the `source` label of the error metric: `containerd`, `peers`, … */
  readonly name: string;
  /** Local sources also serve requests from peers; non-local ones never do (no forwarding loops). */
  readonly local: boolean;
  /** The manifest `<registry>/<name>:<tag>` points at. */
  resolveTag(registry: string, name: string, tag: string, signal: AbortSignal): Promise<ManifestDescriptor | undefined>;
  /** A manifest or index by digest, with its media type; undefined as well when the blob is not a manifest. */
  manifest(digest: string, signal: AbortSignal): Promise<ManifestDescriptor | undefined>;
  /** The manifest's bytes (small: at most 4 MiB). */
  readManifest(manifest: ManifestDescriptor, signal: AbortSignal): Promise<Buffer>;
  blob(digest: string, signal: AbortSignal, origin?: BlobOrigin): Promise<BlobDescriptor | undefined>;
  /** Streams `range` of the blob; the server checks length (and digest, for whole blobs) as it forwards. */
  read(digest: string, range: ByteRange, signal: AbortSignal, origin?: BlobOrigin): AsyncIterable<Uint8Array>;
}
