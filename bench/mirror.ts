// The P2P mirror, end to end with real parts: two containerd nodes and a registry (hack/env.ts), an image of
// random incompressible layers (default 4 × 64 MB), and node 0's MirrorServer (agents/mirror/) over its
// containerd. Measured in the same command:
//   pull     node 1 pulls through CRI (a) from the registry behind a bandwidth shaper (bench/shaper.ts, default
//            50 MB/s), the baseline, and (b) from node 0's mirror, listed first in node 1's hosts.toml by the
//            agent's own HostsTomlWriter, with the shaped registry after it as containerd's fallback. Each pull
//            is checked to have got its bytes from where it should (shaper and mirror counters); the image and
//            its content are removed and garbage-collected between pulls.
//   serving  the largest layer read whole from the mirror over loopback HTTP vs the same blob's file in node
//            0's content store, both read by curl (a process of its own, like containerd), page cache warm;
//            a bare Node HTTP server of the same file gives the ceiling of Node HTTP here, for context.
//   resolve  DHT lookups among 6 libp2p nodes on loopback (the agent's P2PNode) vs a libp2p ping between them.
//   coldPulls  4 real agents pull one never-pulled image at once through a byte-counting proxy, with and without
//            a MirrorPolicy: the registry's bytes per image.
// Logs go to stderr with a short table; the JSON summary to stdout. 1 MB = 10^6 bytes throughout.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import { Registry as MetricsRegistry } from 'prom-client';
import { ContainerdSource } from '../agents/mirror/containerd-source.ts';
import { HostsTomlWriter } from '../agents/mirror/hosts-toml.ts';
import { MirrorServer } from '../agents/mirror/server.ts';
import { ContainerdClient } from '../agents/runtime/containerd/client.ts';
import { isNotFound } from '../agents/runtime/containerd/errors.ts';
import { hostsToml, startNodeEnv, writeHostsToml, type NodeEnv } from '../hack/env.ts';
import { buildRandomImage, pushImage } from '../hack/images.ts';
import type { Logger } from '../operator/src/runtime/log.ts';
import { cpuMeter, distribution, logger, printSummary, ratio, startCluster, type Distribution } from './harness.ts';
import { Shaper } from './shaper.ts';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { DhtResolver } from '../agents/mirror/p2p/dht-resolver.ts';
import { PeerDirectory } from '../agents/mirror/p2p/directory.ts';
import { P2PNode } from '../agents/mirror/p2p/node.ts';
import { mirrorPolicyType } from '../operator/src/api/generated/types.ts';
import { resourcePath } from '../operator/src/runtime/resource.ts';
import { startAgent, type ShoalProcess } from '../test/integration/support/shoal-process.ts';
import { registryMetric, textMetric } from '../test/metrics.ts';
import { waitFor } from '../test/integration/fixture.ts';
import { connectNode } from '../test/integration/support/containerd.ts';

const MB = 1_000_000;
/** Node 0 serves, node 1 pulls; the extension points may need more. */
const nodeCount = 2;
const execFileAsync = promisify(execFile);
const { values: opts } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '256' },
    'rate-mbps': { type: 'string', default: '50' },
    layers: { type: 'string', default: '4' },
    pulls: { type: 'string', default: '5' },
    reads: { type: 'string', default: '5' },
  },
});
const options = {
  sizeMB: Number(opts['size-mb']),
  rateMBps: Number(opts['rate-mbps']),
  layers: Number(opts.layers),
  pulls: Number(opts.pulls),
  reads: Number(opts.reads),
};
for (const [name, value] of Object.entries(options)) if (!(value > 0)) throw new Error(`--${name} must be a positive number, got ${value}`);
const command = `node bench/mirror.ts --size-mb ${options.sizeMB} --rate-mbps ${options.rateMBps} --layers ${options.layers} --pulls ${options.pulls} --reads ${options.reads}`;
const log = logger.child({ bench: 'mirror' });

/** The pushed image: what a pull must bring and what the checks compare against. */
interface BenchImage {
  repo: string;
  tag: string;
  /** `<registry host>/<repo>:<tag>`: what node 1 pulls, whoever serves it. */
  ref: string;
  configDigest: string;
  manifestDigest: string;
  layers: { digest: string; size: number }[];
  /** Layers + config + manifest: what a cold pull downloads. */
  bytes: number;
  /** Layers + config: what the mirror serves as blobs. */
  blobBytes: number;
}

/** What the measurements share; the extension points get the same. */
export interface MirrorBenchContext {
  dir: string;
  env: NodeEnv;
  image: BenchImage;
  /** The registry behind the shaper: connect to `shaper.host` for shaped (and counted) upstream traffic. */
  shaper: Shaper;
  /** node 0's mirror as the DaemonSet runs it (blobs read from containerd's content files), `http://127.0.0.1:<port>`. */
  mirrorUrl: string;
  /** node 0's mirror as an agent without --containerd-content-dir runs it (blobs through Content.Read over gRPC). */
  mirrorGrpcUrl: string;
  /** `shoal_mirror_served_bytes_total{handler="blob"}` of node 0's mirror so far. */
  mirrorBlobBytes(): Promise<number>;
  clients: ContainerdClient[];
  /** The processes whose CPU a measurement may report (harness `cpuMeter`). */
  pids(): Record<string, number>;
  log: Logger;
  /** Registers cleanup, run last first at the end whatever happens. */
  defer(fn: () => Promise<unknown> | unknown): void;
}

/** A measurement's part of the summary. */
interface Measurement {
  [key: string]: unknown;
  met: boolean | null;
}

interface PullsResult extends Measurement {
  baseline: { ms: Distribution; [key: string]: unknown };
  mirror: { ms: Distribution; [key: string]: unknown };
  speedup: { p50: number; max: number };
  met: boolean;
}

interface ResolveResult extends Measurement {
  ms: Distribution;
  baseline: { what: string; ms: Distribution };
  ratio: { p50: number; p99: number };
  met: boolean;
}

interface ColdPullsResult extends Measurement {
  baseline: { upstreamBytes: number; perImage: number; ms: number; what: string };
  mirror: { upstreamBytes: number; perImage: number; ms: number };
  ratio: { upstreamBytes: number };
  met: boolean;
}

interface ServingResult extends Measurement {
  baseline: { MBps: Distribution; [key: string]: unknown };
  mirror: { MBps: Distribution; [key: string]: unknown };
  context: { MBps: Distribution; [key: string]: unknown };
  grpc: { MBps: Distribution; [key: string]: unknown };
  ratio: { p50: number };
  met: boolean;
}

// ---------------------------------------------------------------------------------------------
// Pulls.

/** Polls until containerd has garbage-collected the image's blobs and every snapshot (node 1 holds nothing else). */
async function waitContentGone(client: ContainerdClient, snapshotter: string, digests: readonly string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left: string[] = [];
    for (const digest of digests) {
      const present = await client.content.info(digest).then(
        () => true,
        (err: unknown) => {
          if (isNotFound(err)) return false;
          throw err;
        },
      );
      if (present) left.push(digest);
    }
    // The unpacked layers go in the same GC pass; waiting for them keeps their removal out of the next pull.
    const snapshots = left.length === 0 ? await client.snapshots.list(snapshotter) : [];
    if (left.length === 0 && snapshots.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${left.length} blobs and ${snapshots.length} snapshots still present ${timeoutMs} ms after removing the image: ${left.join(', ')}`);
    await sleep(100);
  }
}

interface PullSample {
  ms: number;
  upstreamBytes: number;
  mirrorBytes: number;
  /** CPU seconds per process during the pull (`bench` holds the mirror and the shaper). */
  cpuSeconds: Record<string, number>;
}

/** Node 1 pulls the image through CRI once, timed; then removes it and waits until its content is gone. */
async function timedPull(ctx: MirrorBenchContext, node1: ContainerdClient): Promise<PullSample> {
  const upstreamBefore = ctx.shaper.stats().bytesToClients;
  const mirrorBefore = await ctx.mirrorBlobBytes();
  const cpu = cpuMeter(ctx.pids());
  const began = performance.now();
  const { imageRef } = await node1.cri.pullImage(ctx.image.ref);
  const ms = performance.now() - began;
  const cpuSeconds = cpu();
  if (imageRef !== ctx.image.configDigest) throw new Error(`pulled ${imageRef}, expected the image id ${ctx.image.configDigest}`);
  const sample = { ms, upstreamBytes: ctx.shaper.stats().bytesToClients - upstreamBefore, mirrorBytes: (await ctx.mirrorBlobBytes()) - mirrorBefore, cpuSeconds };
  await node1.cri.removeImage(ctx.image.ref);
  await waitContentGone(node1, ctx.env.nodes[1]!.containerd.snapshotter, [ctx.image.manifestDigest, ctx.image.configDigest, ...ctx.image.layers.map((l) => l.digest)]);
  return sample;
}

/**
 * (a) from the registry through the shaper vs (b) from node 0's mirror, alternating, one untimed round first.
 * Node 1's hosts.toml for the registry names only the shaper (`server`); for (b) the agent's writer adds the
 * mirror before it and takes it out again afterwards.
 */
async function measurePulls(ctx: MirrorBenchContext): Promise<PullsResult> {
  const node1 = ctx.clients[1]!;
  const certsDir = ctx.env.nodes[1]!.certsDir;
  const registryHost = ctx.env.registry.host;
  await writeHostsToml(certsDir, registryHost, hostsToml(ctx.shaper.host).replace('hack/env.ts', 'bench/mirror.ts: the registry only through the shaper'));
  const writer = new HostsTomlWriter({ certsDir, logger: ctx.log.child({ component: 'hosts-toml' }) });
  ctx.defer(async () => {
    for (const registry of await writer.managed()) await writer.restore(registry);
  });

  const shaped: PullSample[] = [];
  const mirrored: PullSample[] = [];
  for (let round = -1; round < options.pulls; round++) {
    const a = await timedPull(ctx, node1);
    // Honesty checks: (a) got every byte through the shaper and none from the mirror; (b) the reverse.
    if (a.upstreamBytes < ctx.image.bytes || a.mirrorBytes !== 0) throw new Error(`shaped pull: ${a.upstreamBytes} bytes via the shaper, ${a.mirrorBytes} from the mirror`);
    await writer.install(registryHost, { mirrors: [ctx.mirrorUrl] });
    const b = await timedPull(ctx, node1);
    await writer.restore(registryHost);
    if (b.upstreamBytes !== 0 || b.mirrorBytes < ctx.image.blobBytes) throw new Error(`mirror pull: ${b.upstreamBytes} bytes via the shaper, ${b.mirrorBytes} blob bytes from the mirror`);
    ctx.log.info('pull round', { round: round < 0 ? 'warm-up' : round, shapedMs: Math.round(a.ms), mirrorMs: Math.round(b.ms), upstreamBytes: a.upstreamBytes, mirrorBytes: b.mirrorBytes });
    if (round < 0) continue;
    shaped.push(a);
    mirrored.push(b);
  }
  const meanCpu = (samples: PullSample[]): Record<string, number> => {
    const names = Object.keys(samples[0]?.cpuSeconds ?? {});
    return Object.fromEntries(names.map((name) => [name, round1(samples.reduce((sum, s) => sum + (s.cpuSeconds[name] ?? 0), 0) / samples.length)]));
  };
  const a = distribution(shaped.map((s) => s.ms));
  const b = distribution(mirrored.map((s) => s.ms));
  const speedup = ratio(a.p50, b.p50);
  return {
    what: `node 1 pulls ${ctx.image.ref} through CRI (resolve, fetch, unpack into overlayfs); image and content removed and GC'd between pulls; ${options.pulls} rounds (a, b) after one warm-up round`,
    baseline: { what: `(a) registry behind the shaper at ${options.rateMBps} MB/s`, ms: a, effectiveMBps: round1((ctx.image.bytes / MB) / (a.p50 / 1000)), cpuSecondsPerPull: meanCpu(shaped), upstreamBytes: shaped.map((s) => s.upstreamBytes) },
    mirror: { what: "(b) node 0's MirrorServer first in node 1's hosts.toml, the shaped registry after it", ms: b, effectiveMBps: round1((ctx.image.bytes / MB) / (b.p50 / 1000)), cpuSecondsPerPull: meanCpu(mirrored), mirrorBlobBytes: mirrored.map((s) => s.mirrorBytes), upstreamBytes: mirrored.map((s) => s.upstreamBytes) },
    speedup: { p50: speedup, max: ratio(a.max, b.max) },
    target: { speedup: 3 },
    met: speedup >= 3,
  };
}

// ---------------------------------------------------------------------------------------------
// Serving throughput.

/**
 * MB/s of one whole read of `url` (`file://` or `http://`) by curl, a separate process like containerd's fetcher,
 * timed by curl itself (`time_total`, from the start of the transfer: no process start-up).
 */
async function timedRead(url: string, expectedBytes: number): Promise<number> {
  const { stdout } = await execFileAsync('curl', ['--silent', '--show-error', '--output', '/dev/null', '--write-out', '%{http_code} %{size_download} %{time_total}', url]);
  const [code, bytes, seconds] = stdout.trim().split(' ').map(Number) as [number, number, number];
  if ((code !== 200 && !url.startsWith('file:')) || bytes !== expectedBytes) throw new Error(`curl ${url}: status ${code}, ${bytes} of ${expectedBytes} bytes`);
  return expectedBytes / MB / seconds;
}

async function measureServing(ctx: MirrorBenchContext): Promise<ServingResult> {
  const blob = ctx.image.layers.reduce((big, l) => (l.size > big.size ? l : big));
  const file = join(ctx.env.nodes[0]!.containerd.root, 'io.containerd.content.v1.content', 'blobs', 'sha256', blob.digest.slice('sha256:'.length));
  if ((await stat(file)).size !== blob.size) throw new Error(`${file} is not ${blob.size} bytes`);
  const url = `${ctx.mirrorUrl}/v2/${ctx.image.repo}/blobs/${blob.digest}?ns=${ctx.env.registry.host}`;
  const grpcUrl = `${ctx.mirrorGrpcUrl}/v2/${ctx.image.repo}/blobs/${blob.digest}?ns=${ctx.env.registry.host}`;
  // Context, not the baseline: the same file over a bare Node HTTP server in this process, the most any HTTP
  // server on this event loop could give.
  const fileServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(blob.size) });
    createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(res);
  });
  fileServer.listen(0, '127.0.0.1');
  await once(fileServer, 'listening');
  const fileUrl = `http://127.0.0.1:${(fileServer.address() as AddressInfo).port}/`;
  const disk: number[] = [];
  const mirror: number[] = [];
  const plainHttp: number[] = [];
  const mirrorGrpc: number[] = [];
  const mirrorCpu: Record<string, number>[] = [];
  try {
    for (let i = -1; i < options.reads; i++) {
      const fromDisk = await timedRead(`file://${file}`, blob.size);
      const cpu = cpuMeter(ctx.pids());
      const fromMirror = await timedRead(url, blob.size);
      const mirrorCpuSeconds = cpu();
      const fromPlainHttp = await timedRead(fileUrl, blob.size);
      const fromMirrorGrpc = await timedRead(grpcUrl, blob.size);
      if (i < 0) continue; // warm-up: page cache, connections, JIT
      mirrorGrpc.push(fromMirrorGrpc);
      mirrorCpu.push(mirrorCpuSeconds);
      disk.push(fromDisk);
      mirror.push(fromMirror);
      plainHttp.push(fromPlainHttp);
    }
  } finally {
    fileServer.close();
  }
  const cpuNames = ['bench', 'containerd node-0'];
  const cpuPerRead = Object.fromEntries(cpuNames.map((name) => [name, round1(mirrorCpu.reduce((sum, c) => sum + (c[name] ?? 0), 0) / mirrorCpu.length)]));
  const diskMBps = distribution(disk);
  const mirrorMBps = distribution(mirror);
  const share = ratio(mirrorMBps.p50, diskMBps.p50);
  return {
    what: `the largest layer (${blob.digest}, ${blob.size} bytes) read whole by curl (a separate process), ${options.reads} times each after one warm-up, alternating; page cache warm`,
    baseline: { what: "its file in node 0's content store (curl file://)", MBps: diskMBps },
    mirror: {
      what: "GET from the mirror over loopback HTTP (the blob's content file → digest check → socket; --containerd-content-dir, as the DaemonSet runs it)",
      MBps: mirrorMBps,
      cpuSecondsPerRead: { ...cpuPerRead, note: '`bench` = the mirror; `containerd node-0` = Content.Read' },
    },
    context: { what: 'the same file through a bare Node HTTP server (fs stream → response) in the bench process', MBps: distribution(plainHttp) },
    grpc: { what: 'GET from a mirror reading through containerd Content.Read over gRPC (an agent without --containerd-content-dir)', MBps: distribution(mirrorGrpc) },
    ratio: { p50: share },
    target: { ratio: 0.8 },
    met: share >= 0.8,
  };
}

// ---------------------------------------------------------------------------------------------
// The DHT and cold pulls.

/** DHT nodes for the resolve measurement: enough for lookups that cross several peers (the issue asks 4–8). */
const resolveNodes = 6;
const resolveLookups = 300;

/**
 * DHT resolve latency: `resolveNodes` agents' P2PNodes (the agent's own class: TCP + Noise + Yamux + kad-dht, the
 * membership gater) on loopback, full mesh from the directory; the image's blob digests are advertised by
 * two of them, and every lookup asks a fresh resolver (no cache) on a node that does not hold the key, timed to
 * the first peer URL. Baseline: a libp2p ping between the same nodes, the floor of any DHT round trip here.
 */
async function measureResolveLatency(ctx: MirrorBenchContext): Promise<ResolveResult> {
  const metrics = new MetricsRegistry();
  const quiet = ctx.log.child({ component: 'p2p' });
  const directories = Array.from({ length: resolveNodes }, () => new PeerDirectory());
  const nodes: P2PNode[] = [];
  for (const directory of directories) {
    const privateKey = await generateKeyPair('Ed25519');
    const node = new P2PNode({ identity: { privateKey, peerId: peerIdFromPrivateKey(privateKey) }, listen: ['/ip4/127.0.0.1/tcp/0'], directory, logger: quiet, metrics: new MetricsRegistry() });
    await node.start();
    ctx.defer(() => node.stop());
    nodes.push(node);
  }
  const members = nodes.map((n, i) => ({ nodeName: `resolve-${i}`, peerId: n.peerId.toString(), addresses: n.addresses(), endpoint: new URL(`http://127.0.0.1:${20000 + i}`), ready: true }));
  for (const directory of directories) directory.replace(members);
  await waitFor(() => nodes.every((n) => n.connectedMembers().length === resolveNodes - 1), { what: 'a full libp2p mesh', timeoutMs: 30_000 });

  const keys = [ctx.image.configDigest, ...ctx.image.layers.map((l) => l.digest)];
  const providers = [0, 1];
  for (const p of providers) for (const key of keys) await nodes[p]!.provide(key, AbortSignal.timeout(10_000));

  const pingMs: number[] = [];
  const lookupMs: number[] = [];
  for (let i = 0; i < resolveLookups; i++) {
    const from = 2 + (i % (resolveNodes - 2));
    const to = providers[i % providers.length]!;
    // libp2p's own RTT has millisecond resolution: time the call instead.
    const pinged = performance.now();
    await nodes[from]!.libp2p.services.ping.ping(nodes[to]!.peerId, { signal: AbortSignal.timeout(5_000) });
    pingMs.push(performance.now() - pinged);
    const resolver = new DhtResolver({ node: nodes[from]!, directory: directories[from]!, logger: quiet, metrics, cacheTtlMs: 0, timeoutMs: 1_000 });
    const began = performance.now();
    let found = false;
    for await (const _url of resolver.resolve(keys[i % keys.length]!, AbortSignal.timeout(5_000))) {
      found = true;
      break;
    }
    lookupMs.push(performance.now() - began);
    resolver.stop();
    if (!found) throw new Error(`lookup ${i} found no provider`);
  }
  const ms = distribution(lookupMs.map(round2));
  const ping = distribution(pingMs.map(round2));
  return {
    measured: true,
    what: `${resolveLookups} lookups of ${keys.length} blob digests advertised by ${providers.length} of ${resolveNodes} DHT nodes, each from a node without it, fresh resolver (no cache), time to the first provider URL`,
    ms,
    baseline: { what: 'libp2p ping RTT between the same nodes', ms: ping },
    ratio: { p50: ratio(ms.p50, ping.p50), p99: ratio(ms.p99, ping.p99) },
    target: { p99Ms: 10 },
    met: ms.p99 <= 10,
  };
}

/** Nodes pulling at once in the cold-pull measurement, as in the issue. */
const coldNodes = 4;

/**
 * Upstream bytes of `coldNodes` simultaneous cold pulls, with real agents (a control plane of its own, one agent
 * per containerd) and the registry reachable only through a counting proxy (images are named after it).
 * Baseline: the same pulls of another never-pulled image with no MirrorPolicy (containerd alone: N×). Then a
 * MirrorPolicy selects every node and a third image is pulled at once by all; target ≤ 1.2× its bytes.
 */
async function measureColdPulls(ctx: MirrorBenchContext): Promise<ColdPullsResult> {
  const cluster = await startCluster('mirror-cold');
  ctx.defer(() => cluster.close());
  const env = await startNodeEnv({ dir: join(cluster.dir, 'env'), nodes: coldNodes, seed: false, logger: ctx.log.child({ component: 'cold-env' }) });
  cluster.defer(() => env.stop({ purge: true }));
  const registryUrl = new URL(env.registry.url);
  const proxy = await Shaper.start({ target: { host: registryUrl.hostname, port: Number(registryUrl.port) } });
  cluster.defer(() => proxy.close());
  const clients: ContainerdClient[] = [];
  const agents: ShoalProcess[] = [];
  for (const [i, node] of env.nodes.entries()) {
    await writeHostsToml(node.certsDir, proxy.host);
    const client = await connectNode(node, ctx.log);
    cluster.defer(() => client.close());
    clients.push(client);
    const agent = await startAgent({ node: `cold-${i}`, kubeconfig: cluster.cp.kubeconfigPath, containerdAddress: node.containerd.address, runcRoot: node.containerd.runcRoot, certsDir: node.certsDir, stateDir: join(cluster.dir, `agent-${i}`), labels: { 'bench.shoal.dev/cold': 'true' } });
    cluster.defer(() => agent.stop('SIGTERM'));
    agents.push(agent);
  }
  const push = async (seed: string): Promise<{ ref: string; bytes: number }> => {
    const built = await buildRandomImage({ seed, layers: options.layers, totalBytes: Math.round(options.sizeMB * MB) });
    await pushImage(env.registry.url, 'bench/cold', seed, built);
    return { ref: `${proxy.host}/bench/cold:${seed}`, bytes: built.layers.reduce((sum, l) => sum + l.size, 0) + built.configBytes.length + built.manifestBytes.length };
  };
  const pullAll = async (image: { ref: string; bytes: number }): Promise<{ upstreamBytes: number; perImage: number; ms: number }> => {
    const before = proxy.stats().bytesToClients;
    const began = performance.now();
    await Promise.all(clients.map((c) => c.cri.pullImage(image.ref)));
    const upstreamBytes = proxy.stats().bytesToClients - before;
    return { upstreamBytes, perImage: ratio(upstreamBytes, image.bytes), ms: Math.round(performance.now() - began) };
  };

  const baseline = await pullAll(await push('cold-baseline'));
  ctx.log.info('cold pulls without the mirror', baseline);
  await cluster.client.request('POST', resourcePath(mirrorPolicyType), {
    body: { apiVersion: 'shoal.dev/v1alpha1', kind: 'MirrorPolicy', metadata: { name: 'cold' }, spec: { registries: [{ host: proxy.host }], nodeSelector: { matchLabels: { 'bench.shoal.dev/cold': 'true' } } } },
  });
  await waitFor(async () => {
    const texts = await Promise.all(agents.map((a) => a.metrics()));
    return texts.every((t) => textMetric(t, 'shoal_p2p_connected_peers') >= coldNodes - 1 && textMetric(t, 'shoal_mirror_hosts_toml_registries') >= 1);
  }, { what: 'every agent mirroring, in a full mesh', timeoutMs: 60_000 });
  const image = await push('cold-coalesced');
  const coalesced = await pullAll(image);
  ctx.log.info('cold pulls with the mirror', coalesced);
  return {
    measured: true,
    what: `${coldNodes} nodes pull one never-pulled ${options.sizeMB} MB image at the same moment; bytes the registry sent through a counting proxy`,
    imageBytes: image.bytes,
    baseline: { what: 'the same pulls of another image with no MirrorPolicy (containerd alone)', ...baseline },
    mirror: coalesced,
    ratio: { upstreamBytes: ratio(coalesced.upstreamBytes, baseline.upstreamBytes) },
    target: { upstreamBytesPerImage: 1.2 },
    met: coalesced.perImage <= 1.2,
  };
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

// ---------------------------------------------------------------------------------------------

const round1 = (n: number): number => Math.round(n * 10) / 10;

async function buildAndPush(env: NodeEnv): Promise<BenchImage> {
  const began = performance.now();
  const built = await buildRandomImage({ seed: 'bench-mirror', layers: options.layers, totalBytes: Math.round(options.sizeMB * MB) });
  const repo = 'bench/random';
  const tag = `${options.sizeMB}mb-${options.layers}l`;
  await pushImage(env.registry.url, repo, tag, built);
  const image: BenchImage = {
    repo,
    tag,
    ref: `${env.registry.host}/${repo}:${tag}`,
    configDigest: built.configDigest,
    manifestDigest: built.manifestDigest,
    layers: built.layers.map((l) => ({ digest: l.digest, size: l.size })),
    bytes: built.layers.reduce((sum, l) => sum + l.size, 0) + built.configBytes.length + built.manifestBytes.length,
    blobBytes: built.layers.reduce((sum, l) => sum + l.size, 0) + built.configBytes.length,
  };
  log.info('image pushed', { ref: image.ref, bytes: image.bytes, layers: image.layers.length, ms: Math.round(performance.now() - began) });
  return image;
}

/** The human table on stderr. */
function table(pulls: PullsResult, serving: ServingResult, resolve: ResolveResult, cold: ColdPullsResult): string {
  const rows = [
    ['', 'p50', 'max', 'ratio', 'target', 'met'],
    [`pull (a) registry @ ${options.rateMBps} MB/s`, `${pulls.baseline.ms.p50} ms`, `${pulls.baseline.ms.max} ms`, '', '', ''],
    ['pull (b) peer mirror', `${pulls.mirror.ms.p50} ms`, `${pulls.mirror.ms.max} ms`, `${pulls.speedup.p50}× faster`, '≥ 3×', String(pulls.met)],
    ['read blob from disk', `${serving.baseline.MBps.p50} MB/s`, `${serving.baseline.MBps.max} MB/s`, '', '', ''],
    ['GET blob, bare Node HTTP', `${serving.context.MBps.p50} MB/s`, `${serving.context.MBps.max} MB/s`, `${ratio(serving.context.MBps.p50, serving.baseline.MBps.p50)} of disk`, '', ''],
    ['GET blob from mirror, via gRPC', `${serving.grpc.MBps.p50} MB/s`, `${serving.grpc.MBps.max} MB/s`, `${ratio(serving.grpc.MBps.p50, serving.baseline.MBps.p50)} of disk`, '', ''],
    ['GET blob from mirror', `${serving.mirror.MBps.p50} MB/s`, `${serving.mirror.MBps.max} MB/s`, `${serving.ratio.p50} of disk`, '≥ 0.8', String(serving.met)],
    ['libp2p ping (baseline)', `${resolve.baseline.ms.p50} ms`, `p99 ${resolve.baseline.ms.p99} ms`, '', '', ''],
    ['DHT resolve', `${resolve.ms.p50} ms`, `p99 ${resolve.ms.p99} ms`, `p99 ${resolve.ratio.p99}× ping`, 'p99 ≤ 10 ms', String(resolve.met)],
    [`${coldNodes} cold pulls, no mirror`, `${cold.baseline.perImage}× image`, '', '', '', ''],
    [`${coldNodes} cold pulls, mirror`, `${cold.mirror.perImage}× image`, '', `${cold.ratio.upstreamBytes} of baseline`, '≤ 1.2×', String(cold.met)],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')).join('\n');
}

async function main(): Promise<void> {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const defer = (fn: () => Promise<unknown> | unknown): void => void cleanups.unshift(fn);
  // Other work on the machine moves these numbers: the summary carries the load at both ends.
  const loadAverageAtStart = loadavg().map((l) => Math.round(l * 100) / 100);
  try {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-mirror-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    const env = await startNodeEnv({ dir: join(dir, 'env'), nodes: nodeCount, seed: false, logger: log.child({ component: 'node-env' }) });
    defer(() => env.stop({ purge: true }));
    const image = await buildAndPush(env);
    const clients = await Promise.all(
      env.nodes.map(async (node) => {
        const client = await connectNode(node, log);
        defer(() => client.close());
        return client;
      }),
    );
    const registryUrl = new URL(env.registry.url);
    const shaper = await Shaper.start({ target: { host: registryUrl.hostname, port: Number(registryUrl.port) }, rateBytesPerSecond: options.rateMBps * MB, logger: log.child({ component: 'shaper' }) });
    defer(() => shaper.close());

    // Node 0 holds the image: pulled straight from the registry (its hosts.toml from hack/env.ts), unshaped.
    const began = performance.now();
    await clients[0]!.cri.pullImage(image.ref);
    const node0PullMs = Math.round(performance.now() - began);
    log.info('node 0 pulled the image from the registry, unshaped', { ms: node0PullMs });

    const metrics = new MetricsRegistry();
    const contentDir = join(env.nodes[0]!.containerd.root, 'io.containerd.content.v1.content');
    const server = new MirrorServer({ sources: [new ContainerdSource({ client: clients[0]!, logger: log.child({ component: 'containerd-source' }), contentDir })], logger: log.child({ component: 'mirror' }), metrics });
    const port = await server.listen(0, '127.0.0.1');
    defer(() => server.close(0));
    const grpcServer = new MirrorServer({ sources: [new ContainerdSource({ client: clients[0]!, logger: log.child({ component: 'containerd-source' }) })], logger: log.child({ component: 'mirror-grpc' }), metrics: new MetricsRegistry() });
    const grpcPort = await grpcServer.listen(0, '127.0.0.1');
    defer(() => grpcServer.close(0));

    const ctx: MirrorBenchContext = {
      dir,
      env,
      image,
      shaper,
      mirrorUrl: `http://127.0.0.1:${port}`,
      mirrorGrpcUrl: `http://127.0.0.1:${grpcPort}`,
      mirrorBlobBytes: () => registryMetric(metrics, 'shoal_mirror_served_bytes_total', { handler: 'blob' }),
      clients,
      pids: () => ({
        bench: process.pid,
        ...Object.fromEntries(env.nodes.flatMap((n) => (n.containerd.pid === undefined ? [] : [[`containerd ${n.name}`, n.containerd.pid]]))),
        ...(env.registry.pid === undefined ? {} : { registry: env.registry.pid }),
      }),
      log,
      defer,
    };
    const pulls = await measurePulls(ctx);
    const serving = await measureServing(ctx);
    const resolve = await measureResolveLatency(ctx);
    const coldPulls = await measureColdPulls(ctx);
    process.stderr.write(`\n${table(pulls, serving, resolve, coldPulls)}\n\n`);
    printSummary({
      bench: 'mirror',
      command,
      loadAverageAtStart,
      image: { ref: image.ref, bytes: image.bytes, layers: image.layers.map((l) => l.size), content: 'random, incompressible (gzip stored blocks)' },
      node0PullMs: { what: 'node 0 pulls the image from the registry unshaped (context: the floor of a registry pull here)', ms: node0PullMs },
      pulls,
      serving,
      resolve,
      coldPulls,
    });
  } catch (err) {
    log.error('benchmark failed', { err });
    process.exitCode = 1;
  } finally {
    for (const fn of cleanups.splice(0)) {
      try {
        await fn();
      } catch (err) {
        log.warn('cleanup failed', { err });
      }
    }
  }
}

await main();
