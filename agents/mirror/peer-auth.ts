// Authenticates mirror-to-mirror HTTP requests with the agents' libp2p Ed25519 identities: the caller signs
// `METHOD\n<path+query>\n<ts>\n<target peer id>` and the peer listener checks the signature against the public
// key embedded in the caller's peer ID, the clock, the target, and that the caller is a Node of this cluster.
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';

/** `Authorization: ShoalPeer id=<peerId>,to=<target peerId>,ts=<unix ms>,sig=<base64url>`; the signature covers `to` too. */
export const peerAuthScheme = 'ShoalPeer';
/** How far a request's timestamp may be from our clock, either way. */
export const defaultMaxSkewMs = 30_000;

export type AuthRefusalReason = 'missing' | 'malformed' | 'stale' | 'wrong-target' | 'bad-signature' | 'not-member';

export type PeerAuthResult = { ok: true; peerId: string } | { ok: false; status: 401 | 403; reason: AuthRefusalReason; message: string };

/** The bytes that are signed: binding method, target, time and recipient, so a signature is useless elsewhere. */
export function signedPayload(method: string, target: string, ts: number, targetPeerId: string): Uint8Array {
  return new TextEncoder().encode(`${method.toUpperCase()}\n${target}\n${ts}\n${targetPeerId}`);
}

/** Signs this node's requests to peers. */
export class PeerSigner {
  readonly peerId: string;
  readonly #key: PrivateKey;

  constructor(privateKey: PrivateKey) {
    if (privateKey.type !== 'Ed25519') throw new TypeError(`peer signing needs an Ed25519 key, got ${privateKey.type}`);
    this.#key = privateKey;
    this.peerId = peerIdFromPrivateKey(privateKey).toString();
  }

  /** The `Authorization` header value for `method target` sent to `targetPeerId`. */
  async authorization(method: string, target: string, targetPeerId: string, now = Date.now()): Promise<string> {
    const sig = await this.#key.sign(signedPayload(method, target, now, targetPeerId));
    return `${peerAuthScheme} id=${this.peerId},to=${targetPeerId},ts=${now},sig=${Buffer.from(sig).toString('base64url')}`;
  }
}

export interface PeerAuthenticatorOptions {
  /** This node's peer ID: requests signed for another target are refused. */
  selfPeerId: string;
  /** Whether a peer ID belongs to a Node of this cluster (fed from Node objects). */
  isMember: (peerId: string) => boolean;
  maxSkewMs?: number;
  now?: () => number;
}

const headerPattern = /^ShoalPeer\s+id=([1-9A-HJ-NP-Za-km-z]{1,128}),to=([1-9A-HJ-NP-Za-km-z]{1,128}),ts=([0-9]{1,16}),sig=([A-Za-z0-9_-]{1,512})$/;
/** Parsed peer IDs kept (parsing decodes base58 and the key); a cluster has far fewer members. */
const maxCachedKeys = 4096;

export class PeerAuthenticator {
  readonly #selfPeerId: string;
  readonly #isMember: (peerId: string) => boolean;
  readonly #maxSkewMs: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, ReturnType<typeof peerIdFromString>>();

  constructor(options: PeerAuthenticatorOptions) {
    this.#selfPeerId = options.selfPeerId;
    this.#isMember = options.isMember;
    this.#maxSkewMs = options.maxSkewMs ?? defaultMaxSkewMs;
    this.#now = options.now ?? Date.now;
  }

  /** Checks one request; never throws. `target` is the request target as received (path + query). */
  async authenticate(method: string, target: string, header: string | undefined): Promise<PeerAuthResult> {
    if (header === undefined || header.trim() === '') return refuse(401, 'missing', `peer requests need an Authorization: ${peerAuthScheme} header`);
    const match = headerPattern.exec(header.trim());
    if (!match) return refuse(401, 'malformed', `malformed ${peerAuthScheme} authorization`);
    const [, id = '', to = '', tsText = '', sigText = ''] = match;
    const ts = Number(tsText);
    if (to !== this.#selfPeerId) return refuse(401, 'wrong-target', 'the request was signed for another peer');
    if (Math.abs(this.#now() - ts) > this.#maxSkewMs) return refuse(401, 'stale', `signature timestamp is more than ${this.#maxSkewMs / 1000} s from this node's clock`);
    const peer = this.#peer(id);
    if (peer?.publicKey === undefined || peer.type !== 'Ed25519') return refuse(401, 'malformed', 'the id is not an Ed25519 peer ID');
    let valid = false;
    try {
      valid = await peer.publicKey.verify(signedPayload(method, target, ts, this.#selfPeerId), Buffer.from(sigText, 'base64url'));
    } catch {
      valid = false;
    }
    if (!valid) return refuse(401, 'bad-signature', 'the signature does not match the request');
    if (!this.#isMember(id)) return refuse(403, 'not-member', 'the peer is not a Node of this cluster');
    return { ok: true, peerId: id };
  }

  #peer(id: string): ReturnType<typeof peerIdFromString> | undefined {
    const cached = this.#keys.get(id);
    if (cached) return cached;
    let peer: ReturnType<typeof peerIdFromString>;
    try {
      peer = peerIdFromString(id);
    } catch {
      return undefined;
    }
    if (this.#keys.size >= maxCachedKeys) this.#keys.clear();
    this.#keys.set(id, peer);
    return peer;
  }
}

function refuse(status: 401 | 403, reason: AuthRefusalReason, message: string): PeerAuthResult {
  return { ok: false, status, reason, message };
}
