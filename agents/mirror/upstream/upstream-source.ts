// The owner's half of cold-pull coalescing as a ContentSource: blobs this node owns (owners.ts) of the registries
// its MirrorPolicy mirrors are fetched once from upstream (single-flight.ts) and streamed to every reader, its own
// containerd and the peers that asked it. Local, so the peer listener serves it; it never forwards to a peer.
import type { BlobDescriptor, BlobOrigin, ByteRange, ContentSource, ManifestDescriptor } from '../source.ts';
import type { UpstreamFetcher } from './single-flight.ts';

export interface UpstreamSourceOptions {
  fetcher: UpstreamFetcher;
  /** Whether this node fetches `digest` for the cluster. */
  isOwner: (digest: string) => boolean;
  /** Only the policy's registries: a peer must not make this node fetch from an arbitrary host. */
  allowRegistry: (registry: string) => boolean;
}

export class UpstreamSource implements ContentSource {
  readonly name = 'upstream';
  readonly local = true;
  readonly #options: UpstreamSourceOptions;

  constructor(options: UpstreamSourceOptions) {
    this.#options = options;
  }

  async resolveTag(): Promise<ManifestDescriptor | undefined> {
    return undefined; // tags and manifests go upstream from each node: small, and tags must stay fresh
  }

  async manifest(): Promise<ManifestDescriptor | undefined> {
    return undefined;
  }

  async readManifest(manifest: ManifestDescriptor): Promise<Buffer> {
    throw new Error(`the upstream source serves no manifests (${manifest.digest})`);
  }

  async blob(digest: string, signal: AbortSignal, origin?: BlobOrigin): Promise<BlobDescriptor | undefined> {
    if (!this.#serves(digest, origin)) return undefined;
    // Starts (or joins) the one upstream fetch; the size is known once upstream answered.
    const blob = await this.#options.fetcher.open(origin.registry, origin.repository, digest, undefined, signal);
    return blob && { digest, size: blob.size };
  }

  async *read(digest: string, range: ByteRange, signal: AbortSignal, origin?: BlobOrigin): AsyncIterable<Uint8Array> {
    if (!this.#serves(digest, origin)) throw new Error(`the upstream source does not serve ${digest}`);
    const blob = await this.#options.fetcher.open(origin.registry, origin.repository, digest, range, signal);
    if (!blob) throw new Error(`upstream no longer has ${digest}`);
    yield* blob.chunks;
  }

  #serves(digest: string, origin: BlobOrigin | undefined): origin is BlobOrigin {
    return origin !== undefined && this.#options.allowRegistry(origin.registry) && this.#options.isOwner(digest);
  }
}
