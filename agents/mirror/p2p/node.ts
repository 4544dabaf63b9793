// P2PNode: the agent's libp2p node (TCP + Noise + Yamux, identify, ping, kad-dht on /shoal/kad/1.0.0 in server
// mode), closed to everyone but the cluster's members (gater.ts), kept connected to all of them by the
// maintenance loop (member-dialer.ts). It carries identity and the DHT only: blob bytes go over HTTP.
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify, type Identify } from '@libp2p/identify';
import type { Connection, PeerId, PeerInfo, PrivateKey } from '@libp2p/interface';
import { kadDHT, type KadDHT } from '@libp2p/kad-dht';
import { peerIdFromString } from '@libp2p/peer-id';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import type { CID } from 'multiformats/cid';
import type { Registry } from 'prom-client';
import { sleep } from '../../../operator/src/runtime/backoff.ts';
import type { Logger } from '../../../operator/src/runtime/log.ts';
import { contentKeyCid } from './cid.ts';
import type { Member, PeerDirectory } from './directory.ts';
import { membershipGater } from './gater.ts';
import { MemberDialer } from './member-dialer.ts';
import { p2pMetrics, type P2PMetrics } from './metrics.ts';
import type { ContentKey } from '../resolver.ts';
import { keysPerNotice, noticeHandler, sendNotice, withdrawProtocol } from './withdraw-protocol.ts';

export const dhtProtocol = '/shoal/kad/1.0.0';
export const defaultListen = ['/ip4/0.0.0.0/tcp/5052'];

export interface P2PNodeOptions {
  /** loadOrCreateIdentity(stateDir) (identity.ts). */
  identity: { privateKey: PrivateKey; peerId: PeerId };
  /** Listen multiaddrs; default `/ip4/0.0.0.0/tcp/5052` (tests: `/ip4/127.0.0.1/tcp/0`). */
  listen?: string[];
  /** Addresses to publish instead of the listen addresses (e.g. `/ip4/<node IP>/tcp/5052`). */
  announce?: string[];
  directory: PeerDirectory;
  logger: Logger;
  metrics: Registry;
  /** Pass interval of the membership maintenance loop; default 5 s. */
  maintenanceIntervalMs?: number;
  /** Connection monitor ping interval; a silent peer's connection is closed after at most twice this. Default 10 s. */
  livenessIntervalMs?: number;
  /** Lifetime of provider records that are never withdrawn (a crashed node's); ours are re-provided every ~validity/2. Default 20 min. */
  providerValidityMs?: number;
}

/** The longest a provide waits for kad-dht's routing table to get its first peer after start. */
const routingTableWaitMs = 5000;

/** Our provider records are sent to this many peers closest to the key (kad-dht's k). */
const kBucketSize = 20;

interface ProviderStore {
  removeProvider(cid: CID, provider: PeerId): Promise<void>;
}

type Services = { dht: KadDHT; identify: Identify; ping: Ping };

export class P2PNode {
  readonly peerId: PeerId;
  readonly metrics: P2PMetrics;
  readonly directory: PeerDirectory;
  readonly #options: P2PNodeOptions;
  readonly #log: Logger;
  #libp2p: Libp2p<Services> | undefined;
  #providers: ProviderStore | undefined;
  #dialer: MemberDialer | undefined;
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(options: P2PNodeOptions) {
    this.#options = options;
    this.peerId = options.identity.peerId;
    this.directory = options.directory;
    this.metrics = p2pMetrics(options.metrics);
    this.#log = options.logger.child({ component: 'p2p', peer: this.peerId.toString() });
  }

  get started(): boolean {
    return this.#libp2p !== undefined;
  }

  /** The libp2p node, for diagnostics and tests; throws before start(). */
  get libp2p(): Libp2p<Services> {
    if (!this.#libp2p) throw new Error('P2PNode is not started');
    return this.#libp2p;
  }

  async start(): Promise<void> {
    if (this.#libp2p) return;
    const { directory } = this.#options;
    const livenessMs = this.#options.livenessIntervalMs ?? 10_000;
    const validityMs = this.#options.providerValidityMs ?? 20 * 60_000;
    const node = await createLibp2p<Services>({
      privateKey: this.#options.identity.privateKey,
      addresses: { listen: this.#options.listen ?? defaultListen, ...(this.#options.announce ? { announce: this.#options.announce } : {}) },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: membershipGater(directory, this.metrics, this.#log),
      connectionMonitor: { pingInterval: livenessMs, pingTimeout: { minTimeout: Math.min(5000, livenessMs), maxTimeout: livenessMs } },
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({
          protocol: dhtProtocol,
          clientMode: false,
          kBucketSize,
          // A single-node cluster must still answer (and provide locally) instead of waiting for a first peer.
          allowQueryWithZeroPeers: true,
          // Private and loopback addresses are the norm inside a cluster; non-members never enter the routing table.
          peerInfoMapper: (peer: PeerInfo) => (directory.has(peer.id.toString()) ? peer : { id: peer.id, multiaddrs: [] }),
          // Records of a node that died without withdrawing expire; ours are re-provided well before that.
          reprovide: { validity: validityMs, threshold: validityMs / 2, interval: Math.max(1000, Math.floor(validityMs / 4)) },
        }),
      },
    });
    const providers = (node.services.dht as unknown as { providers?: Partial<ProviderStore> }).providers;
    if (typeof providers?.removeProvider !== 'function') {
      await node.stop();
      throw new Error('@libp2p/kad-dht no longer exposes its provider store (providers.removeProvider): withdrawal cannot work with this version');
    }
    this.#providers = providers as ProviderStore;
    this.#libp2p = node;
    await node.handle(
      withdrawProtocol,
      noticeHandler(
        (from, cids) => this.#dropRecords(from, cids),
        (from, err) => this.#log.warn('bad withdraw notice', { from: from.toString(), err }),
      ),
    );
    const onConnections = (): void => this.#updateConnectedGauge();
    node.addEventListener('connection:open', onConnections);
    node.addEventListener('connection:close', (event: CustomEvent<Connection>) => {
      onConnections();
      // A peer that dropped may come back at once (agent restart): try it again without waiting a full pass.
      if (directory.has(event.detail.remotePeer.toString()) && !this.isConnected(event.detail.remotePeer.toString())) this.#dialer?.wake();
    });
    this.#unsubscribe = directory.onChange((change) => {
      for (const peerId of change.removed) this.#hangUp(peerId);
      this.metrics.members.set(directory.size);
    });
    this.metrics.members.set(directory.size);
    this.#stop = new AbortController();
    this.#dialer = new MemberDialer({
      directory,
      metrics: this.metrics,
      logger: this.#log,
      intervalMs: this.#options.maintenanceIntervalMs ?? 5000,
      target: { selfPeerId: this.peerId.toString(), isConnected: (peerId) => this.isConnected(peerId), dial: (member, signal) => this.#dial(member, signal) },
    });
    this.#loop = this.#dialer.run(this.#stop.signal);
    this.#log.info('libp2p node started', { addresses: this.addresses() });
  }

  async stop(): Promise<void> {
    const node = this.#libp2p;
    if (!node) return;
    this.#stop?.abort();
    this.#unsubscribe?.();
    await this.#loop;
    await node.stop();
    this.#libp2p = undefined;
    this.#providers = undefined;
    this.#dialer = undefined;
    this.metrics.connectedPeers.set(0);
    this.#log.info('libp2p node stopped');
  }

  /**
   * The multiaddrs to publish in the Node's status.peer.addresses (no /p2p suffix). Loopback addresses are
   * left out unless there is nothing else (a single-host test setup).
   */
  addresses(): string[] {
    const all = [...new Set(this.libp2p.getMultiaddrs().map((ma) => ma.decapsulateCode(421).toString()))];
    const routable = all.filter((address) => !/^\/ip4\/127\.|^\/ip6\/::1\//.test(address));
    return routable.length > 0 ? routable : all;
  }

  isConnected(peerId: string): boolean {
    const node = this.#libp2p;
    if (!node) return false;
    try {
      return node.getConnections(peerIdFromString(peerId)).some((c) => c.status === 'open');
    } catch {
      return false;
    }
  }

  /** Member peer IDs with an open connection. */
  connectedMembers(): string[] {
    const node = this.#libp2p;
    if (!node) return [];
    return [...new Set(node.getConnections().filter((c) => c.status === 'open').map((c) => c.remotePeer.toString()))].filter((p) => this.directory.has(p));
  }

  /** Publishes a provider record for `key`: locally, then on the peers closest to it. */
  async provide(key: ContentKey, signal: AbortSignal): Promise<void> {
    // Right after start the routing table is empty and the record would stay local until re-provided.
    await this.#routingTableFilled(AbortSignal.any([signal, AbortSignal.timeout(routingTableWaitMs)]));
    await this.libp2p.contentRouting.provide(contentKeyCid(key), { signal });
  }

  /**
   * Stops providing `keys`: drops our own record (kad-dht cancelReprovide) and asks every connected member to
   * drop the records it holds for us. Resolves when every reachable member acknowledged.
   */
  async withdraw(keys: readonly ContentKey[], signal: AbortSignal): Promise<void> {
    if (keys.length === 0) return;
    const node = this.libp2p;
    const cids = keys.map(contentKeyCid);
    for (const cid of cids) await node.services.dht.cancelReprovide(cid, { signal });
    const peers = this.connectedMembers();
    const failures: unknown[] = [];
    await Promise.all(
      peers.map(async (peer) => {
        for (let i = 0; i < cids.length; i += keysPerNotice) {
          try {
            await sendNotice(node, peerIdFromString(peer), cids.slice(i, i + keysPerNotice), signal);
            this.metrics.withdrawNotices.inc({ direction: 'sent' });
          } catch (err) {
            failures.push(err);
            this.#log.debug('withdraw notice not delivered; the record expires on that peer', { to: peer, err });
            return;
          }
        }
      }),
    );
    if (failures.length > 0 && failures.length === peers.length) this.#log.warn('no peer acknowledged a withdrawal', { keys: keys.length, peers: peers.length });
  }

  /** Peer IDs providing `key`, as the DHT finds them (self and non-members included: the resolver filters). */
  async *findProviders(key: ContentKey, signal: AbortSignal): AsyncIterable<string> {
    for await (const provider of this.libp2p.contentRouting.findProviders(contentKeyCid(key), { signal })) yield provider.id.toString();
  }

  /** Resolves once kad-dht knows a peer, or at once when there is no other member; never throws. */
  async #routingTableFilled(signal: AbortSignal): Promise<void> {
    const table = (this.libp2p.services.dht as unknown as { routingTable?: { size?: unknown } }).routingTable;
    const self = this.peerId.toString();
    const empty = (): boolean => typeof table?.size === 'number' && table.size === 0 && this.directory.members().some((m) => m.peerId !== self);
    while (empty() && !signal.aborted) await sleep(50, signal);
  }

  async #dial(member: Member, signal: AbortSignal): Promise<void> {
    const node = this.libp2p;
    const peerId = peerIdFromString(member.peerId);
    const addrs = member.addresses.flatMap((address) => {
      try {
        return [multiaddr(address)];
      } catch {
        return [];
      }
    });
    if (addrs.length === 0) throw new Error(`no valid multiaddr among ${JSON.stringify(member.addresses)}`);
    await node.peerStore.merge(peerId, { multiaddrs: addrs }, { signal });
    await node.dial(peerId, { signal });
    // A peer that does not list us completes the handshake and then drops the connection: only a round trip
    // through its muxer proves it accepted us (otherwise the loop would count a success and redial at once).
    await node.services.ping.ping(peerId, { signal });
  }

  async #dropRecords(from: PeerId, cids: CID[]): Promise<void> {
    const providers = this.#providers;
    if (!providers) return;
    for (const cid of cids) await providers.removeProvider(cid, from);
    this.metrics.withdrawNotices.inc({ direction: 'received' });
    this.#log.debug('dropped withdrawn provider records', { from: from.toString(), keys: cids.length });
  }

  #hangUp(peerId: string): void {
    const node = this.#libp2p;
    if (!node) return;
    this.#log.info('closing connections of a peer that left the cluster', { peer: peerId });
    node.hangUp(peerIdFromString(peerId)).catch((err: unknown) => this.#log.warn('hang up failed', { peer: peerId, err }));
  }

  #updateConnectedGauge(): void {
    this.metrics.connectedPeers.set(this.connectedMembers().length);
  }
}
