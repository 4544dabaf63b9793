// The P2P mirror's peer discovery with real parts: four P2PNodes (libp2p + kad-dht) in this process on
// 127.0.0.1, each with its own PeerDirectory fed the same members; a non-member libp2p node; and the Advertiser
// against a real containerd 1.6 (hack/env.ts) with a CRI pull from the seeded registry.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { Registry } from 'prom-client';
import { Advertiser } from '../../agents/mirror/p2p/advertiser.ts';
import { DhtResolver } from '../../agents/mirror/p2p/dht-resolver.ts';
import { PeerDirectory, type Member } from '../../agents/mirror/p2p/directory.ts';
import { loadOrCreateIdentity } from '../../agents/mirror/p2p/identity.ts';
import { followNodes } from '../../agents/mirror/p2p/node-members.ts';
import { dhtProtocol, P2PNode } from '../../agents/mirror/p2p/node.ts';
import { peerIdOf } from '../../agents/mirror/protocol.ts';
import { ContainerdClient } from '../../agents/runtime/containerd/client.ts';
import { startNodeEnv, type NodeEnv } from '../../hack/env.ts';
import { standardImages } from '../../hack/images.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { nodeType, type Node } from '../../operator/src/api/generated/types.ts';
import { Informer } from '../../operator/src/runtime/informer.ts';
import { ContentType, KubeClient } from '../../operator/src/runtime/kube.ts';
import { resourcePath } from '../../operator/src/runtime/resource.ts';
import { makeKubeConfig, repoRoot, sharedControlPlane, waitFor } from './fixture.ts';
import { registryMetric } from '../metrics.ts';

const logger = createLogger({ component: 'mirror-dht-test' }, { level: 'warn' });
const randomDigest = (): string => `sha256:${randomBytes(32).toString('hex')}`;
/**
 * Timer slack for upper bounds: the machine is shared (2 cores, other suites running), so a 20 ms timer may
 * fire 100+ ms late. Lower bounds stay exact.
 */
const slackMs = 250;
/** The resolve timeout of functional checks, where the point is which peers come back, not how fast. */
const functionalTimeoutMs = 500;

interface Peer {
  name: string;
  stateDir: string;
  endpoint: URL;
  directory: PeerDirectory;
  metrics: Registry;
  node: P2PNode;
}

async function startPeer(name: string, stateDir: string, endpointPort: number): Promise<Peer> {
  const identity = await loadOrCreateIdentity(stateDir);
  const directory = new PeerDirectory();
  const metrics = new Registry();
  const node = new P2PNode({
    identity,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    directory,
    logger: logger.child({ node: name }),
    metrics,
    maintenanceIntervalMs: 200,
    // livenessIntervalMs stays at its default (10 s): the frozen-peer test checks the production bound.
  });
  await node.start();
  return { name, stateDir, endpoint: new URL(`http://127.0.0.1:${endpointPort}`), directory, metrics, node };
}

function memberOf(peer: Peer): Member {
  return { nodeName: peer.name, peerId: peer.node.peerId.toString(), addresses: peer.node.addresses(), endpoint: peer.endpoint, ready: true };
}

/** The endpoint a resolved URL points at, without the peer ID it carries (protocol.ts peerUrl). */
function endpointOf(url: URL): string {
  assert.ok(peerIdOf(url), `${url.href} carries the peer ID the request is signed for`);
  const bare = new URL(url);
  bare.username = '';
  return bare.href;
}

async function resolveAll(resolver: DhtResolver, key: string): Promise<string[]> {
  const urls: string[] = [];
  for await (const url of resolver.resolve(key, AbortSignal.timeout(10_000))) urls.push(endpointOf(url));
  return urls;
}

/** A resolver without cache, so each call asks the DHT again. */
function freshResolver(peer: Peer, options: { timeoutMs?: number; retries?: number } = {}): DhtResolver {
  return new DhtResolver({ node: peer.node, directory: peer.directory, logger, metrics: new Registry(), cacheTtlMs: 0, timeoutMs: functionalTimeoutMs, ...options });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/**
 * A member in a child process (so it can be frozen with SIGSTOP: its sockets stay open, it just stops
 * answering). It prints `{peerId, addresses}`, then takes JSON lines on stdin: `{"members": […]}` or
 * `{"provide": key}` (answered with `{"provided": key}`).
 */
const childScript = `
import { createInterface } from 'node:readline';
import { Registry } from 'prom-client';
import { PeerDirectory } from './agents/mirror/p2p/directory.ts';
import { loadOrCreateIdentity } from './agents/mirror/p2p/identity.ts';
import { P2PNode } from './agents/mirror/p2p/node.ts';
import { createLogger } from './operator/src/runtime/log.ts';
const identity = await loadOrCreateIdentity(process.argv[1]);
const directory = new PeerDirectory();
const node = new P2PNode({ identity, listen: ['/ip4/127.0.0.1/tcp/0'], directory, logger: createLogger({ component: 'child' }, { level: 'warn' }), metrics: new Registry(), maintenanceIntervalMs: 200 });
await node.start();
console.log(JSON.stringify({ peerId: node.peerId.toString(), addresses: node.addresses() }));
for await (const line of createInterface({ input: process.stdin })) {
  const message = JSON.parse(line);
  if (message.members) directory.replace(message.members.map((m) => ({ ...m, endpoint: m.endpoint ? new URL(m.endpoint) : undefined })));
  if (message.provide) {
    await node.provide(message.provide, AbortSignal.timeout(10000));
    console.log(JSON.stringify({ provided: message.provide }));
  }
}
`;

interface ChildPeer {
  process: ChildProcess;
  member: Member;
  send(message: unknown): void;
  next(): Promise<Record<string, unknown>>;
}

async function startChildPeer(name: string, stateDir: string, endpointPort: number): Promise<ChildPeer> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', childScript, stateDir], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] });
  assert.ok(child.stdout && child.stdin);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const line = await lines.next();
    if (line.done) throw new Error(`${name} exited`);
    return JSON.parse(line.value) as Record<string, unknown>;
  };
  const hello = await next();
  const member: Member = { nodeName: name, peerId: String(hello['peerId']), addresses: hello['addresses'] as string[], endpoint: new URL(`http://127.0.0.1:${endpointPort}`), ready: true };
  const stdin = child.stdin;
  return { process: child, member, next, send: (message) => stdin.write(`${JSON.stringify(message)}\n`) };
}

describe('mirror DHT (libp2p kad-dht on loopback, real containerd)', function () {
  this.timeout(180_000);

  let dir: string;
  const peers: Peer[] = [];
  const extras: { stop(): Promise<void> }[] = [];

  /** Gives every peer's directory the same membership (what the Node informer does in the agent). */
  function publish(members: Member[] = peers.map(memberOf)): void {
    for (const peer of peers) peer.directory.replace(members);
  }

  const peer = (i: number): Peer => {
    const p = peers[i];
    assert.ok(p, `peer ${i}`);
    return p;
  };

  async function fullyConnected(): Promise<void> {
    await waitFor(() => peers.every((p) => p.node.connectedMembers().length === peers.length - 1), { what: 'every member connected to every other', timeoutMs: 20_000 });
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-mirror-dht-'));
    for (let i = 0; i < 4; i++) peers.push(await startPeer(`node-${i}`, join(dir, `node-${i}`), 5051 + i));
    publish();
    await fullyConnected();
  });

  after(async () => {
    for (const extra of extras) await extra.stop().catch(() => undefined);
    for (const p of peers) await p.node.stop().catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('connects every member to every other from the directory alone (no DNS, no leader)', async () => {
    for (const p of peers) {
      assert.deepEqual(p.node.connectedMembers().sort(), peers.filter((q) => q !== p).map((q) => q.node.peerId.toString()).sort());
      assert.equal(await registryMetric(p.metrics, 'shoal_p2p_connected_peers'), 3);
      assert.equal(await registryMetric(p.metrics, 'shoal_p2p_members'), 4);
    }
    const dials = await Promise.all(peers.map((p) => registryMetric(p.metrics, 'shoal_p2p_dials_total', { result: 'success' })));
    assert.ok(dials.reduce((a, b) => a + b, 0) >= 3, `dials ${dials.join(',')}`);
    assert.deepEqual(peer(0).node.addresses().length, 1);
    assert.match(peer(0).node.addresses()[0] ?? '', /^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/);
  });

  it("resolves a key provided by node A on node C to A's endpoint, within the 20 ms resolve timeout", async () => {
    const key = randomDigest();
    const resolverC = new DhtResolver({ node: peer(2).node, directory: peer(2).directory, logger, metrics: peer(2).metrics });
    assert.deepEqual(resolverC.settings, { timeoutMs: 20, retries: 3 });
    assert.deepEqual(await resolveAll(resolverC, key), [], 'nothing before it is provided');
    await peer(0).node.provide(key, AbortSignal.timeout(10_000));
    const began = performance.now();
    let firstMs = Infinity;
    const urls: string[] = [];
    for await (const url of freshResolver(peer(2), { timeoutMs: 20 }).resolve(key, AbortSignal.timeout(10_000))) {
      firstMs = Math.min(firstMs, performance.now() - began);
      assert.equal(peerIdOf(url), peer(0).node.peerId.toString());
      urls.push(endpointOf(url));
    }
    const totalMs = performance.now() - began;
    assert.deepEqual(urls, [peer(0).endpoint.href]);
    assert.ok(firstMs < 20 + slackMs, `first peer after ${firstMs.toFixed(1)} ms`);
    // After the last peer the iteration ends when the lookup does or one timeout later, whichever is first.
    assert.ok(totalMs < firstMs + 20 + slackMs, `iteration ended after ${totalMs.toFixed(1)} ms`);
    // Every other member sees it too; the provider itself never resolves to itself.
    assert.deepEqual(await resolveAll(freshResolver(peer(1)), key), [peer(0).endpoint.href]);
    assert.deepEqual(await resolveAll(freshResolver(peer(0)), key), []);
    // A second provider adds a second URL (at most 1 + retries).
    await peer(3).node.provide(key, AbortSignal.timeout(10_000));
    assert.deepEqual((await resolveAll(freshResolver(peer(2)), key)).sort(), [peer(0).endpoint.href, peer(3).endpoint.href].sort());
    assert.deepEqual((await resolveAll(freshResolver(peer(2), { retries: 0 }), key)).length, 1);
    assert.ok((await registryMetric(peer(2).metrics, 'shoal_mirror_resolve_duration_seconds_count', { result: 'not_found' })) >= 1);
  });

  it('skips providers that are not Ready, have no endpoint, or left the directory', async () => {
    const key = randomDigest();
    await peer(0).node.provide(key, AbortSignal.timeout(10_000));
    const c = peer(2);
    assert.deepEqual(await resolveAll(freshResolver(c), key), [peer(0).endpoint.href]);
    const a = memberOf(peer(0));
    c.directory.set({ ...a, ready: false });
    assert.deepEqual(await resolveAll(freshResolver(c), key), []);
    c.directory.set({ ...a, endpoint: undefined });
    assert.deepEqual(await resolveAll(freshResolver(c), key), []);
    c.directory.set(a);
    assert.deepEqual(await resolveAll(freshResolver(c), key), [peer(0).endpoint.href]);
  });

  it('bounds each wait for a peer by resolveTimeout, changeable at runtime (a member that never answers DHT queries)', async () => {
    // A member whose kad-dht handler accepts streams and never answers: lookups cannot finish early through it.
    const silent = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), ping: ping() },
    });
    extras.push({ stop: async () => { await silent.stop(); } });
    await silent.handle(dhtProtocol, () => undefined);
    const silentMember: Member = { nodeName: 'silent', peerId: silent.peerId.toString(), addresses: silent.getMultiaddrs().map((m) => m.decapsulateCode(421).toString()), ready: true };
    const members = [...peers.map(memberOf), silentMember];
    publish(members);
    await waitFor(() => peers.every((p) => p.node.isConnected(silentMember.peerId)), { what: 'members connected to the silent member' });
    // Let identify tell kad-dht that the silent peer speaks the DHT protocol, so queries go to it.
    await new Promise((resolve) => setTimeout(resolve, 500));

    const resolver = new DhtResolver({ node: peer(1).node, directory: peer(1).directory, logger, metrics: new Registry(), negativeCacheTtlMs: 0 });
    const time = async (): Promise<number> => {
      const began = performance.now();
      assert.deepEqual(await resolveAll(resolver, randomDigest()), []);
      return performance.now() - began;
    };
    const short = await time();
    assert.ok(short >= 19 && short < 20 + slackMs, `default 20 ms: took ${short.toFixed(1)} ms`);
    resolver.configure({ timeoutMs: 600 });
    const long = await time();
    assert.ok(long >= 599 && long < 600 + slackMs, `600 ms: took ${long.toFixed(1)} ms`);
    assert.throws(() => resolver.configure({ timeoutMs: 0 }), /positive/);
    assert.throws(() => resolver.configure({ retries: -1 }), /non-negative/);
    resolver.stop();

    // Removing a member closes its connections on every node.
    publish();
    await waitFor(() => peers.every((p) => !p.node.isConnected(silentMember.peerId)), { what: 'connections to the removed member closed' });
    assert.ok(peers.every((p) => p.node.connectedMembers().length === 3));
  });

  it('refuses a libp2p node that is not a member, both ways, and it resolves nothing', async () => {
    const key = randomDigest();
    await peer(0).node.provide(key, AbortSignal.timeout(10_000));
    // The outsider knows every member's address and thinks they are members; they do not list it.
    const outsider = await startPeer('outsider', join(dir, 'outsider'), 5099);
    extras.push(outsider.node);
    outsider.directory.replace([...peers.map(memberOf), memberOf(outsider)]);
    const a = peer(0);
    const refusedInbound = await registryMetric(a.metrics, 'shoal_p2p_refused_connections_total', { direction: 'inbound' });
    const firstAddress = a.node.addresses()[0];
    assert.ok(firstAddress);
    // The handshake may complete on the dialer's side before A drops it: what counts is that no stream gets through.
    const target = multiaddr(`${firstAddress}/p2p/${a.node.peerId.toString()}`);
    await assert.rejects(outsider.node.libp2p.dialProtocol(target, dhtProtocol, { signal: AbortSignal.timeout(5000) }));
    await assert.rejects(outsider.node.libp2p.services.ping.ping(target, { signal: AbortSignal.timeout(5000) }));
    await waitFor(() => !outsider.node.isConnected(a.node.peerId.toString()), { what: 'the outsider connection to be dropped', timeoutMs: 5000 });
    assert.ok((await registryMetric(a.metrics, 'shoal_p2p_refused_connections_total', { direction: 'inbound' })) > refusedInbound);
    // A member dialing the outsider is refused before any packet is sent.
    const refusedOutbound = await registryMetric(a.metrics, 'shoal_p2p_refused_connections_total', { direction: 'outbound' });
    await a.node.libp2p.peerStore.merge(outsider.node.peerId, { multiaddrs: outsider.node.libp2p.getMultiaddrs() });
    await assert.rejects(a.node.libp2p.dial(outsider.node.peerId, { signal: AbortSignal.timeout(5000) }));
    assert.ok((await registryMetric(a.metrics, 'shoal_p2p_refused_connections_total', { direction: 'outbound' })) > refusedOutbound);
    // Its own maintenance loop keeps trying and failing; it never holds a connection to a member.
    await waitFor(async () => (await registryMetric(outsider.metrics, 'shoal_p2p_dials_total', { result: 'failure' })) >= 4, { what: 'outsider dial failures' });
    assert.deepEqual(outsider.node.connectedMembers(), []);
    assert.deepEqual(await resolveAll(freshResolver(outsider), key), []);
    for (const p of peers) assert.ok(!p.node.isConnected(outsider.node.peerId.toString()));
    await outsider.node.stop();
  });

  it('stops resolving a withdrawn key at once on every member', async () => {
    const key = randomDigest();
    await peer(0).node.provide(key, AbortSignal.timeout(10_000));
    for (const i of [1, 2, 3]) assert.deepEqual(await resolveAll(freshResolver(peer(i)), key), [peer(0).endpoint.href]);
    await peer(0).node.withdraw([key], AbortSignal.timeout(10_000));
    // No cache and no expiry involved: the records the other members held for A are gone.
    for (const i of [1, 2, 3]) assert.deepEqual(await resolveAll(freshResolver(peer(i)), key), [], `node-${i}`);
    assert.ok((await registryMetric(peer(2).metrics, 'shoal_p2p_withdraw_notices_total', { direction: 'received' })) >= 1);
    // Providing again works after a withdrawal.
    await peer(0).node.provide(key, AbortSignal.timeout(10_000));
    assert.deepEqual(await resolveAll(freshResolver(peer(2)), key), [peer(0).endpoint.href]);
  });

  it('measures resolve latency on loopback with 4 nodes (p50/p99)', async () => {
    const keys: { key: string; provider: number }[] = [];
    for (let i = 0; i < 40; i++) keys.push({ key: randomDigest(), provider: i % 4 });
    for (const { key, provider } of keys) await peer(provider).node.provide(key, AbortSignal.timeout(10_000));
    const samples: number[] = [];
    // A long timeout, so slow lookups are measured rather than cut off at 20 ms.
    const resolvers = peers.map((p) => freshResolver(p, { timeoutMs: 2000 }));
    for (let round = 0; round < 5; round++) {
      for (const { key, provider } of keys) {
        const from = (provider + 1 + (round % 3)) % 4;
        const resolver = resolvers[from];
        assert.ok(resolver);
        const began = performance.now();
        let first: string | undefined;
        for await (const url of resolver.resolve(key, AbortSignal.timeout(5000))) {
          first = endpointOf(url);
          break;
        }
        samples.push(performance.now() - began);
        assert.equal(first, peer(provider).endpoint.href, `key from node-${provider} resolved on node-${from}`);
      }
    }
    samples.sort((a, b) => a - b);
    const p50 = percentile(samples, 50);
    const p99 = percentile(samples, 99);
    process.stdout.write(`      resolve latency, 4 nodes on loopback, ${samples.length} lookups without cache: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${samples.at(-1)?.toFixed(2)} ms\n`);
    assert.ok(p50 < 20, 'the median lookup fits the default 20 ms resolve timeout');
  });

  it('keeps its peer ID across a restart with the same state dir, and rejoins', async () => {
    const b = peer(1);
    const before = b.node.peerId.toString();
    await b.node.stop();
    await waitFor(() => peers.filter((p) => p !== b).every((p) => !p.node.isConnected(before)), { what: 'members to notice node-1 left' });
    const restarted = await startPeer(b.name, b.stateDir, 5052);
    assert.equal(restarted.node.peerId.toString(), before);
    peers[1] = restarted;
    // Its new port is not published yet: it rejoins by dialing the others, whose addresses it knows.
    restarted.directory.replace(peers.map((p) => (p === restarted ? memberOf(restarted) : { ...memberOf(p) })));
    await fullyConnected();
    publish();
    const key = randomDigest();
    await restarted.node.provide(key, AbortSignal.timeout(10_000));
    assert.deepEqual(await resolveAll(freshResolver(peer(3)), key), [restarted.endpoint.href]);
    assert.deepEqual(await resolveAll(freshResolver(restarted), key), []);
  });

  it('stops returning a peer that stopped (without withdrawing) within 30 s', async () => {
    const key = randomDigest();
    const d = peer(3);
    await d.node.provide(key, AbortSignal.timeout(10_000));
    const cached = new DhtResolver({ node: peer(0).node, directory: peer(0).directory, logger, metrics: new Registry() });
    assert.deepEqual(await resolveAll(cached, key), [d.endpoint.href]);
    const began = performance.now();
    await d.node.stop();
    // The records on other members are still there; the missing live connection excludes it, even from the cache.
    await waitFor(async () => (await resolveAll(cached, key)).length === 0, { what: 'the stopped peer to disappear', timeoutMs: 30_000, intervalMs: 50 });
    const ms = performance.now() - began;
    assert.ok(ms < 30_000, `${ms} ms`);
    assert.deepEqual(await resolveAll(freshResolver(peer(2)), key), []);
    // Back for the remaining tests.
    peers[3] = await startPeer(d.name, d.stateDir, 5054);
    publish();
    await fullyConnected();
  });

  it('stops returning a frozen peer (SIGSTOP: connection open, no answers) within 30 s, with the default liveness settings', async () => {
    const frozen = await startChildPeer('frozen', join(dir, 'frozen'), 5060);
    extras.push({ stop: async () => void frozen.process.kill('SIGKILL') });
    const members = [...peers.map(memberOf), frozen.member];
    publish(members);
    frozen.send({ members: members.map((m) => ({ ...m, endpoint: m.endpoint?.href })) });
    await waitFor(() => peers.every((p) => p.node.isConnected(frozen.member.peerId)), { what: 'members connected to the child peer' });
    const key = randomDigest();
    frozen.send({ provide: key });
    assert.deepEqual(await frozen.next(), { provided: key });
    const resolver = new DhtResolver({ node: peer(2).node, directory: peer(2).directory, logger, metrics: new Registry() });
    assert.deepEqual(await resolveAll(resolver, key), [frozen.member.endpoint?.href]);

    assert.ok(frozen.process.kill('SIGSTOP'));
    const began = performance.now();
    await waitFor(async () => (await resolveAll(resolver, key)).length === 0, { what: 'the frozen peer to disappear', timeoutMs: 30_000, intervalMs: 250 });
    const ms = performance.now() - began;
    process.stdout.write(`      frozen peer dropped after ${(ms / 1000).toFixed(1)} s\n`);
    assert.ok(ms < 30_000);
    await waitFor(() => peers.every((p) => !p.node.isConnected(frozen.member.peerId)), { what: 'every member to drop the frozen peer', timeoutMs: 30_000 - ms });
    frozen.process.kill('SIGKILL');
    publish();
  });

  it('takes membership from shoal.dev Node objects through the informer (real kube-apiserver)', async () => {
    const cp = await sharedControlPlane();
    const client = KubeClient.fromKubeConfig(makeKubeConfig(cp));
    const stop = new AbortController();
    const suffix = randomBytes(3).toString('hex');
    const names = [`dht-x-${suffix}`, `dht-y-${suffix}`];
    const nodes = [await startPeer(names[0] ?? '', join(dir, names[0] ?? ''), 5071), await startPeer(names[1] ?? '', join(dir, names[1] ?? ''), 5072)];
    const informer = new Informer<Node>(client, nodeType, { logger });
    let running: Promise<void> | undefined;
    try {
      for (const p of nodes) followNodes(informer, p.directory, logger);
      running = informer.run(stop.signal);
      assert.ok(await informer.waitForSync(stop.signal));
      for (const p of nodes) {
        await client.request('POST', resourcePath(nodeType), { body: { apiVersion: 'shoal.dev/v1alpha1', kind: 'Node', metadata: { name: p.name }, spec: {} } });
        const status: Node['status'] = { peer: { id: p.node.peerId.toString(), addresses: p.node.addresses() }, mirror: { endpoint: p.endpoint.href } };
        await client.request('PATCH', resourcePath(nodeType, undefined, p.name, 'status'), { body: { status }, contentType: ContentType.mergePatch });
      }
      const [x, y] = nodes;
      assert.ok(x && y);
      // The members find and connect to each other from the published status alone.
      await waitFor(() => x.node.isConnected(y.node.peerId.toString()) && y.node.isConnected(x.node.peerId.toString()), { what: 'the two Nodes to connect' });
      const key = randomDigest();
      await x.node.provide(key, AbortSignal.timeout(10_000));
      assert.deepEqual(await resolveAll(freshResolver(y), key), [x.endpoint.href]);
      // Ready=False on the Node removes it from answers; deleting the Node closes its connections.
      const notReady = { type: 'Ready', status: 'False', reason: 'LeaseExpired', message: '', lastTransitionTime: new Date().toISOString() };
      await client.request('PATCH', resourcePath(nodeType, undefined, x.name, 'status'), { body: { status: { conditions: [notReady] } }, contentType: ContentType.mergePatch });
      await waitFor(() => y.directory.get(x.node.peerId.toString())?.ready === false, { what: 'Ready=False to reach the directory' });
      assert.deepEqual(await resolveAll(freshResolver(y), key), []);
      await client.request('DELETE', resourcePath(nodeType, undefined, x.name));
      await waitFor(() => !y.directory.has(x.node.peerId.toString()) && !y.node.isConnected(x.node.peerId.toString()), { what: 'the deleted Node to be disconnected' });
    } finally {
      stop.abort();
      await running;
      for (const p of nodes) await p.node.stop();
      for (const name of names) await client.request('DELETE', resourcePath(nodeType, undefined, name)).catch(() => undefined);
      await client.close();
    }
  });

  describe('advertiser against real containerd', () => {
    let env: NodeEnv;
    let containerd: ContainerdClient;
    let advertiser: Advertiser;

    before(async () => {
      env = await startNodeEnv({ dir: join(dir, 'env'), nodes: 1, logger });
      const node = env.nodes[0];
      assert.ok(node);
      containerd = await ContainerdClient.connect({ address: node.containerd.address, namespace: node.containerd.namespace, logger });
      assert.equal(containerd.namespace, 'k8s.io');
    });

    after(async () => {
      await advertiser?.stop();
      containerd?.close();
      await env?.stop({ purge: true });
    });

    it('advertises the manifest, config and layer digests and the tag key of a CRI pull, and withdraws them on removal', async () => {
      const a = peer(0);
      const busybox = env.images[standardImages.busybox];
      assert.ok(busybox);
      advertiser = new Advertiser({ containerd, publisher: a.node, logger, metrics: a.metrics, imageFilter: (name) => !name.endsWith(':latest') });
      advertiser.start();
      assert.ok(await advertiser.waitForSync(AbortSignal.timeout(30_000)));
      const initialKeys = advertiser.counts().keys;

      await containerd.cri.pullImage(busybox.ref);
      const tag = busybox.ref; // CRI's image record name = the tag key, e.g. 127.0.0.1:5000/shoal/busybox:1.36
      const digests = [busybox.digest, busybox.image.configDigest, ...busybox.image.manifest.layers.map((l) => l.digest)];
      await waitFor(() => [tag, ...digests].every((key) => advertiser.advertises(key)), { what: 'the pulled image to be advertised', timeoutMs: 30_000 });
      const counts = advertiser.counts();
      assert.ok(counts.images >= 1 && counts.keys >= initialKeys + digests.length + 1, JSON.stringify(counts));
      assert.equal(await registryMetric(a.metrics, 'shoal_mirror_advertised_keys'), counts.keys);
      assert.equal(await registryMetric(a.metrics, 'shoal_mirror_advertised_images'), counts.images);
      // Another member finds node A for the tag key and each digest.
      const c = peer(2);
      for (const key of [tag, ...digests]) await waitFor(async () => (await resolveAll(freshResolver(c), key)).includes(a.endpoint.href), { what: `${key} to resolve` });

      // The filter applies at runtime: rejecting the image withdraws its tag key, accepting it provides it again.
      advertiser.setImageFilter(() => false);
      await waitFor(() => !advertiser.advertises(tag), { what: 'the filtered tag to be withdrawn' });
      assert.deepEqual(await resolveAll(freshResolver(c), tag), []);
      advertiser.setImageFilter(() => true);
      await waitFor(() => advertiser.advertises(tag), { what: 'the tag to be advertised again' });

      await containerd.cri.removeImage(busybox.ref);
      await waitFor(() => !advertiser.advertises(tag), { what: 'the removed tag to be withdrawn', timeoutMs: 30_000 });
      await waitFor(async () => (await resolveAll(freshResolver(c), tag)).length === 0, { what: 'the removed tag to stop resolving' });
      // CRI deletes synchronously, so the blobs go too (/content/delete events) and their digests are withdrawn.
      await waitFor(() => digests.every((key) => !advertiser.advertises(key)), { what: 'the deleted blobs to be withdrawn', timeoutMs: 30_000 });
      for (const key of digests) assert.deepEqual(await resolveAll(freshResolver(c), key), [], key);
      assert.equal(await registryMetric(a.metrics, 'shoal_mirror_advertised_images'), advertiser.counts().images);
    });

    it('re-subscribes after containerd restarts and keeps following pulls', async () => {
      const a = peer(0);
      const node = env.nodes[0];
      const busybox = env.images[standardImages.busybox];
      assert.ok(node && busybox);
      const restartsBefore = await registryMetric(a.metrics, 'shoal_mirror_advertiser_restarts_total');
      await node.containerd.restart();
      await waitFor(async () => (await registryMetric(a.metrics, 'shoal_mirror_advertiser_restarts_total')) > restartsBefore, { what: 'the advertiser to notice the broken stream' });
      // Events after the reconnect are followed (the resync alone would only run every 5 min).
      await waitFor(() => containerd.cri.pullImage(busybox.ref).then(() => true), { what: 'a pull after the restart', timeoutMs: 30_000, intervalMs: 500 });
      await waitFor(() => advertiser.advertises(busybox.ref) && advertiser.advertises(busybox.digest), { what: 'the image pulled after the restart to be advertised', timeoutMs: 30_000 });
      await waitFor(async () => (await resolveAll(freshResolver(peer(2)), busybox.ref)).includes(a.endpoint.href), { what: 'the tag to resolve again' });
    });

    it('withdraws every key on stop', async () => {
      const busybox = env.images[standardImages.busybox];
      assert.ok(busybox && advertiser.advertises(busybox.ref));
      const digests = (await containerd.content.list()).map((info) => info.digest).filter((digest) => advertiser.advertises(digest));
      assert.ok(digests.length >= 3, `advertised digests: ${digests.length}`);
      const keys = [busybox.ref, ...digests];
      await advertiser.stop();
      assert.deepEqual(advertiser.counts(), { keys: 0, images: 0 });
      assert.equal(await registryMetric(peer(0).metrics, 'shoal_mirror_advertised_keys'), 0);
      for (const key of keys) assert.deepEqual(await resolveAll(freshResolver(peer(2)), key), [], key);
    });
  });
});
