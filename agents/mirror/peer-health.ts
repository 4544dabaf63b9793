// Which peers the mirror currently trusts to answer: a peer that errors, times out or serves bytes that do not
// match their digest is skipped for a cool-off that doubles with each strike, and a liar's is far longer. The
// peer source consults it when ordering the peers a Resolver yields, so the next request goes elsewhere.
import type { Registry } from 'prom-client';
import { mirrorMetrics, type MirrorMetrics, type PenaltyReason } from './metrics.ts';

export interface PeerHealthOptions {
  /** prom-client registry for `shoal_mirror_peer_penalties_total`. */
  metrics: Registry;
  /** First cool-off after an error or timeout; default 2 s, doubling per consecutive strike. */
  errorCoolOffMs?: number;
  /** Cap of the error cool-off; default 2 min. */
  maxErrorCoolOffMs?: number;
  /** First cool-off after a digest mismatch; default 10 min, doubling per strike. */
  lieCoolOffMs?: number;
  /** Cap of the liar cool-off; default 24 h. */
  maxLieCoolOffMs?: number;
  /** Peers remembered at most (the oldest healthy entries go first); default 4096. */
  maxPeers?: number;
  now?: () => number;
}

interface Record {
  errorStrikes: number;
  lieStrikes: number;
  until: number;
  reason: PenaltyReason;
}

export class PeerHealth {
  readonly #metrics: MirrorMetrics;
  readonly #errorCoolOffMs: number;
  readonly #maxErrorCoolOffMs: number;
  readonly #lieCoolOffMs: number;
  readonly #maxLieCoolOffMs: number;
  readonly #maxPeers: number;
  readonly #now: () => number;
  readonly #peers = new Map<string, Record>();

  constructor(options: PeerHealthOptions) {
    this.#metrics = mirrorMetrics(options.metrics);
    this.#errorCoolOffMs = options.errorCoolOffMs ?? 2000;
    this.#maxErrorCoolOffMs = options.maxErrorCoolOffMs ?? 120_000;
    this.#lieCoolOffMs = options.lieCoolOffMs ?? 600_000;
    this.#maxLieCoolOffMs = options.maxLieCoolOffMs ?? 86_400_000;
    this.#maxPeers = options.maxPeers ?? 4096;
    this.#now = options.now ?? Date.now;
  }

  /** Puts `peer` in cool-off; returns how long it lasts (ms). */
  penalise(peer: string, reason: PenaltyReason): number {
    const record = this.#peers.get(peer) ?? { errorStrikes: 0, lieStrikes: 0, until: 0, reason };
    let coolOff: number;
    if (reason === 'digest-mismatch') {
      record.lieStrikes++;
      coolOff = Math.min(this.#maxLieCoolOffMs, this.#lieCoolOffMs * 2 ** (record.lieStrikes - 1));
    } else {
      record.errorStrikes++;
      coolOff = Math.min(this.#maxErrorCoolOffMs, this.#errorCoolOffMs * 2 ** (record.errorStrikes - 1));
    }
    // A shorter penalty never cuts a longer one short (an error right after a lie).
    const until = this.#now() + coolOff;
    if (until >= record.until) {
      record.until = until;
      record.reason = reason;
    }
    this.#peers.delete(peer);
    this.#peers.set(peer, record);
    this.#metrics.penalties.inc({ reason });
    this.#trim();
    return coolOff;
  }

  /** A peer served correctly: its error strikes are forgiven (lies are not: they only age out by eviction). */
  succeeded(peer: string): void {
    const record = this.#peers.get(peer);
    if (!record) return;
    record.errorStrikes = 0;
    if (record.lieStrikes === 0 && record.until <= this.#now()) this.#peers.delete(peer);
  }

  /** Whether `peer` is in cool-off now. */
  coolingOff(peer: string): boolean {
    return (this.#peers.get(peer)?.until ?? 0) > this.#now();
  }

  /** When the cool-off of `peer` ends (ms since the epoch), or undefined when it is usable. */
  coolOffEnds(peer: string): number | undefined {
    const until = this.#peers.get(peer)?.until ?? 0;
    return until > this.#now() ? until : undefined;
  }

  /** Splits `peers` into usable ones (in the given order) and those cooling off. */
  partition<T>(peers: readonly T[], key: (peer: T) => string): { usable: T[]; coolingOff: T[] } {
    const usable: T[] = [];
    const coolingOff: T[] = [];
    for (const peer of peers) (this.coolingOff(key(peer)) ? coolingOff : usable).push(peer);
    return { usable, coolingOff };
  }

  #trim(): void {
    if (this.#peers.size <= this.#maxPeers) return;
    const now = this.#now();
    for (const [peer, record] of this.#peers) {
      if (this.#peers.size <= this.#maxPeers) return;
      if (record.until <= now) this.#peers.delete(peer);
    }
    // Still full of peers in cool-off: drop the oldest entries (Map order is insertion order).
    for (const peer of this.#peers.keys()) {
      if (this.#peers.size <= this.#maxPeers) return;
      this.#peers.delete(peer);
    }
  }
}
