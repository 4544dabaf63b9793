// The membership maintenance loop: bootstrap and repair come from the Node CRs alone (no DNS, no leader). Every
// pass dials each member we have no connection to, with a per-peer exponential backoff, and wakes early when the
// directory changes. Liveness of open connections is libp2p's connection monitor (pings, see node.ts).
import { Backoff, sleep, type BackoffOptions } from '../../../operator/src/runtime/backoff.ts';
import type { Logger } from '../../../operator/src/runtime/log.ts';
import type { Member, PeerDirectory } from './directory.ts';
import type { P2PMetrics } from './metrics.ts';

export interface MemberDialerTarget {
  readonly selfPeerId: string;
  isConnected(peerId: string): boolean;
  /** Dials `member` at its published addresses; rejects on failure. */
  dial(member: Member, signal: AbortSignal): Promise<void>;
}

export interface MemberDialerOptions {
  directory: PeerDirectory;
  target: MemberDialerTarget;
  metrics: P2PMetrics;
  logger: Logger;
  /** Time between passes when nothing changes; default 5 s. */
  intervalMs?: number;
  /** Deadline of one dial; default 5 s. */
  dialTimeoutMs?: number;
  /** Per-peer retry backoff after failed dials; default 1 s doubling to 60 s. */
  backoff?: BackoffOptions;
  /** Dials in flight at once; default 16. */
  concurrency?: number;
}

interface Retry {
  backoff: Backoff;
  notBefore: number;
}

export class MemberDialer {
  readonly #options: MemberDialerOptions;
  readonly #retries = new Map<string, Retry>();
  #wake: (() => void) | undefined;
  /** A wake-up that came during a pass: the next sleep is skipped. */
  #pendingWake = false;

  constructor(options: MemberDialerOptions) {
    this.#options = options;
  }

  /** Runs passes until `signal` aborts; never throws. */
  async run(signal: AbortSignal): Promise<void> {
    const { directory, logger } = this.#options;
    const unsubscribe = directory.onChange((change) => {
      for (const peerId of [...change.removed, ...change.updated]) this.#retries.delete(peerId);
      this.wake();
    });
    try {
      while (!signal.aborted) {
        try {
          await this.#pass(signal);
        } catch (err) {
          if (!signal.aborted) logger.warn('membership maintenance pass failed', { err });
        }
        await this.#sleep(this.#options.intervalMs ?? 5000, signal);
      }
    } finally {
      unsubscribe();
    }
  }

  /** Starts the next pass now (e.g. after a connection closed). */
  wake(): void {
    if (this.#wake) this.#wake();
    else this.#pendingWake = true;
  }

  async #pass(signal: AbortSignal): Promise<void> {
    const { directory, target, metrics, logger } = this.#options;
    const now = Date.now();
    const due = directory
      .members()
      .filter((m) => m.peerId !== target.selfPeerId && m.addresses.length > 0 && !target.isConnected(m.peerId))
      .filter((m) => (this.#retries.get(m.peerId)?.notBefore ?? 0) <= now);
    const concurrency = this.#options.concurrency ?? 16;
    let failures = 0;
    for (let i = 0; i < due.length && !signal.aborted; i += concurrency) {
      await Promise.all(
        due.slice(i, i + concurrency).map(async (member) => {
          const dialSignal = AbortSignal.any([signal, AbortSignal.timeout(this.#options.dialTimeoutMs ?? 5000)]);
          try {
            await target.dial(member, dialSignal);
            metrics.dials.inc({ result: 'success' });
            this.#retries.delete(member.peerId);
            logger.debug('connected to member', { member: member.nodeName, peer: member.peerId });
          } catch (err) {
            if (signal.aborted) return;
            failures++;
            metrics.dials.inc({ result: 'failure' });
            const retry = this.#retries.get(member.peerId) ?? { backoff: new Backoff(this.#options.backoff ?? { initialMs: 1000, maxMs: 60_000 }), notBefore: 0 };
            const delay = retry.backoff.next();
            retry.notBefore = Date.now() + delay;
            this.#retries.set(member.peerId, retry);
            const log = retry.backoff.attempts > 3 ? logger.warn : logger.debug;
            log('cannot reach member', { member: member.nodeName, peer: member.peerId, addresses: member.addresses, retryInMs: Math.round(delay), err });
          }
        }),
      );
    }
    if (!signal.aborted) metrics.maintenanceRuns.inc({ result: failures === 0 ? 'ok' : 'partial' });
  }

  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#pendingWake) {
      this.#pendingWake = false;
      return;
    }
    const woken = new AbortController();
    this.#wake = () => woken.abort();
    try {
      await sleep(ms, AbortSignal.any([signal, woken.signal]));
    } finally {
      this.#wake = undefined;
    }
  }
}
