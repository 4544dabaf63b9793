// The cluster's membership as the P2P layer sees it: peer ID → the Node that owns it, its libp2p addresses,
// its mirror's peer data URL and readiness. Fed from the Node informer (node-members.ts) or, in tests, by
// replace(). Only members may connect (gater.ts) and only members are returned by the resolver.
import { peerIdFromString } from '@libp2p/peer-id';

export interface Member {
  /** The shoal.dev Node's name. */
  nodeName: string;
  /** Canonical libp2p peer ID string (base58btc "12D3KooW…"). */
  peerId: string;
  /** libp2p multiaddrs the agent listens on (status.peer.addresses). */
  addresses: string[];
  /** Base URL of the node's mirror for peers (status.mirror.endpoint); absent until the node publishes it. */
  endpoint?: URL;
  /** False only when the Node's Ready condition is False (an unknown or missing condition counts as ready). */
  ready: boolean;
}

export interface DirectoryChange {
  /** Peer IDs that became members. */
  added: string[];
  /** Peer IDs that stopped being members (their connections must be closed). */
  removed: string[];
  /** Peer IDs whose addresses, endpoint or readiness changed. */
  updated: string[];
}

export type DirectoryListener = (change: DirectoryChange) => void;

/** Returns the canonical form of a peer ID string, or undefined if it is not a peer ID. */
export function canonicalPeerId(text: string): string | undefined {
  try {
    return peerIdFromString(text).toString();
  } catch {
    return undefined;
  }
}

export class PeerDirectory {
  /** By peer ID. */
  readonly #byPeer = new Map<string, Member>();
  /** Node name → peer ID, so a Node that changes its key drops the old peer ID. */
  readonly #byNode = new Map<string, string>();
  readonly #listeners = new Set<DirectoryListener>();

  get size(): number {
    return this.#byPeer.size;
  }

  has(peerId: string): boolean {
    return this.#byPeer.has(peerId);
  }

  get(peerId: string): Member | undefined {
    return this.#byPeer.get(peerId);
  }

  members(): Member[] {
    return [...this.#byPeer.values()];
  }

  /** Calls `listener` after every change; returns the function that unsubscribes it. */
  onChange(listener: DirectoryListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Makes `members` the whole membership (what a full list of Nodes gives). */
  replace(members: Member[]): void {
    const change: DirectoryChange = { added: [], removed: [], updated: [] };
    // Validate everything first: a bad entry must not leave the directory half replaced.
    const normalized = members.map(normalize);
    const keep = new Set(normalized.map((member) => member.nodeName));
    for (const member of normalized) this.#apply(member, change);
    for (const nodeName of [...this.#byNode.keys()]) if (!keep.has(nodeName)) this.#removeNode(nodeName, change);
    this.#notify(change);
  }

  /** Adds or updates one member (keyed by node name). */
  set(member: Member): void {
    const change: DirectoryChange = { added: [], removed: [], updated: [] };
    this.#apply(normalize(member), change);
    this.#notify(change);
  }

  /** Removes the member for `nodeName`, if any. */
  remove(nodeName: string): void {
    const change: DirectoryChange = { added: [], removed: [], updated: [] };
    this.#removeNode(nodeName, change);
    this.#notify(change);
  }

  #apply(member: Member, change: DirectoryChange): void {
    const previousPeer = this.#byNode.get(member.nodeName);
    if (previousPeer !== undefined && previousPeer !== member.peerId) this.#removeNode(member.nodeName, change);
    // Two Nodes claiming one peer ID: the later claim wins, the earlier Node is no longer a member.
    const owner = this.#byPeer.get(member.peerId);
    if (owner && owner.nodeName !== member.nodeName) this.#byNode.delete(owner.nodeName);
    const old = this.#byPeer.get(member.peerId);
    this.#byPeer.set(member.peerId, member);
    this.#byNode.set(member.nodeName, member.peerId);
    if (!old) change.added.push(member.peerId);
    else if (!sameMember(old, member)) change.updated.push(member.peerId);
  }

  #removeNode(nodeName: string, change: DirectoryChange): void {
    const peerId = this.#byNode.get(nodeName);
    if (peerId === undefined) return;
    this.#byNode.delete(nodeName);
    if (this.#byPeer.get(peerId)?.nodeName === nodeName) {
      this.#byPeer.delete(peerId);
      change.removed.push(peerId);
    }
  }

  #notify(change: DirectoryChange): void {
    if (change.added.length + change.removed.length + change.updated.length === 0) return;
    for (const listener of this.#listeners) listener(change);
  }
}

function normalize(member: Member): Member {
  const peerId = canonicalPeerId(member.peerId);
  if (peerId === undefined) throw new Error(`node ${member.nodeName}: invalid peer ID ${JSON.stringify(member.peerId)}`);
  return { ...member, peerId, addresses: [...member.addresses] };
}

function sameMember(a: Member, b: Member): boolean {
  return (
    a.nodeName === b.nodeName &&
    a.ready === b.ready &&
    a.endpoint?.href === b.endpoint?.href &&
    a.addresses.length === b.addresses.length &&
    a.addresses.every((address, i) => address === b.addresses[i])
  );
}
