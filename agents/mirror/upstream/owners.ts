// Who fetches a cold blob from upstream for the whole cluster: the owner among this node and its ready peers
// (owner.ts rendezvous hashing over the directory's members), and a Resolver that points a non-owner at it.
import type { PeerDirectory } from '../p2p/directory.ts';
import { peerUrl } from '../protocol.ts';
import type { ContentKey, Resolver } from '../resolver.ts';
import { isSha256Digest } from '../routes.ts';
import { ownerOf } from './owner.ts';

export class DigestOwners implements Resolver {
  readonly #directory: PeerDirectory;
  readonly #self: string;

  constructor(directory: PeerDirectory, selfPeerId: string) {
    this.#directory = directory;
    this.#self = selfPeerId;
  }

  /** The owner's peer ID: every node computes the same one from the same members. */
  ownerOf(digest: string): string {
    return ownerOf(digest, [this.#self, ...this.#peers()]);
  }

  /** Alone, there is nothing to coalesce: containerd had better fetch upstream itself, without a spool in between. */
  isOwner(digest: string): boolean {
    return this.#peers().length > 0 && this.ownerOf(digest) === this.#self;
  }

  #peers(): string[] {
    return this.#directory
      .members()
      .filter((m) => m.ready && m.endpoint && m.peerId !== this.#self)
      .map((m) => m.peerId);
  }

  /** The owner's peer URL when it is another node; nothing when this node owns the digest (or for a tag key). */
  async *resolve(key: ContentKey, signal: AbortSignal): AsyncIterable<URL> {
    if (signal.aborted || !isSha256Digest(key)) return;
    const owner = this.ownerOf(key);
    const endpoint = owner === this.#self ? undefined : this.#directory.get(owner)?.endpoint;
    if (endpoint) yield peerUrl(endpoint, owner);
  }
}
