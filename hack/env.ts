// The node environment of the agent's tests and `make up`: one seeded registry plus N containerd
// instances ("nodes"), each configured (certs.d/<registry>/hosts.toml) to pull from the registry over
// plain HTTP. With `netns: true` every node and the registry run in network namespaces of their own
// (separate "hosts" on 10.231.x.y/30 veths, see hack/containerd.ts), reaching each other through
// this machine; otherwise everything is on loopback.
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createLogger, type Logger } from '../operator/src/runtime/log.ts';
import { Containerd, createNetns, deleteNetns, maxSocketPathLength, type Netns } from './containerd.ts';
import { seedRegistry, type SeededImage } from './images.ts';
import { Registry } from './registry.ts';

export interface NodeEnvOptions {
  /** Working directory (created if missing): registry/, node-0/, node-1/, … */
  dir: string;
  /** Number of containerd instances. */
  nodes: number;
  /** Each node and the registry in its own network namespace; default false (all on loopback). */
  netns?: boolean;
  logger?: Logger;
  /** Push the standard test images (hack/images.ts `seedRegistry`); default true. */
  seed?: boolean;
  /** The registry's port; default a free one. `make up` fixes it so image references stay stable. */
  registryPort?: number;
}

export interface EnvNode {
  /** `node-0`, `node-1`, … */
  name: string;
  containerd: Containerd;
  /** containerd's CRI registry `config_path`; `<certsDir>/<registry.host>/hosts.toml` points at the registry. */
  certsDir: string;
  /** The node's address in netns mode (reachable from the host and the other nodes); undefined otherwise. */
  ip: string | undefined;
}

export interface NodeEnv {
  dir: string;
  registry: Registry;
  /** The seeded images by `repo:tag` (empty with `seed: false`). */
  images: Record<string, SeededImage>;
  nodes: EnvNode[];
  /** The registry's netns in netns mode. */
  registryNetns: Netns | undefined;
  /** Stops every node and the registry and deletes the netns. `purge` also deletes their data. Idempotent. */
  stop(options?: { purge?: boolean }): Promise<void>;
}

/** The hosts.toml that makes containerd pull `registryHost` over plain HTTP (it would try HTTPS first otherwise). */
export function hostsToml(registryHost: string): string {
  // skip_verify only matters for https hosts; ours is plain http, so it is left out.
  return `# Written by hack/env.ts
server = "http://${registryHost}"

[host."http://${registryHost}"]
  capabilities = ["pull", "resolve"]
`;
}

/** Writes `<certsDir>/<registryHost>/hosts.toml` (containerd reads it on every pull: no restart needed). */
export async function writeHostsToml(certsDir: string, registryHost: string, content = hostsToml(registryHost)): Promise<string> {
  const hostDir = join(certsDir, registryHost);
  await mkdir(hostDir, { recursive: true });
  const path = join(hostDir, 'hosts.toml');
  await writeFile(path, content);
  return path;
}

/** `<dir>/<name>` when its socket path fits, else a short /tmp dir linked from `<dir>/<name>`. */
async function containerdDir(dir: string, name: string): Promise<{ path: string; outside: boolean }> {
  const preferred = join(dir, name);
  if (join(preferred, 'containerd.sock.ttrpc').length <= maxSocketPathLength) return { path: preferred, outside: false };
  if (existsSync(preferred) && lstatSync(preferred).isSymbolicLink()) return { path: readlinkSync(preferred), outside: true };
  const short = await mkdtemp('/tmp/shoal-ctd-');
  await symlink(short, preferred);
  return { path: short, outside: true };
}

export async function startNodeEnv(options: NodeEnvOptions): Promise<NodeEnv> {
  const began = performance.now();
  const dir = resolve(options.dir);
  const logger = options.logger ?? createLogger({ component: 'node-env' });
  if (!Number.isInteger(options.nodes) || options.nodes < 0) throw new Error(`nodes must be a non-negative integer, got ${options.nodes}`);
  await mkdir(dir, { recursive: true });
  const id = randomBytes(3).toString('hex');
  const createdNetns: string[] = [];
  const outsideDirs: string[] = [];
  const nodes: EnvNode[] = [];
  let registry: Registry | undefined;
  let registryNetns: Netns | undefined;
  let stopping: Promise<void> | undefined;

  const stop = (stopOptions: { purge?: boolean } = {}): Promise<void> => {
    stopping ??= (async () => {
      const errors: unknown[] = [];
      const settle = async (p: Promise<void>): Promise<void> => {
        try {
          await p;
        } catch (err) {
          errors.push(err);
        }
      };
      await Promise.all(nodes.map((n) => settle(n.containerd.stop())));
      if (registry) await settle(registry.stop());
      for (const name of createdNetns) await settle(deleteNetns(name));
      if (stopOptions.purge) {
        for (const path of outsideDirs) await settle(rm(path, { recursive: true, force: true }));
        for (const n of nodes) await settle(rm(join(dir, n.name), { recursive: true, force: true }));
        await settle(rm(join(dir, 'registry'), { recursive: true, force: true }));
      }
      logger.info('node env stopped', { dir, purge: stopOptions.purge === true });
      if (errors.length > 0) throw new AggregateError(errors, `node env stop: ${errors.length} error(s)`);
    })();
    return stopping;
  };

  try {
    let listenAddress: string | undefined;
    if (options.netns) {
      registryNetns = await createNetns(`shoal-${id}-registry`);
      createdNetns.push(registryNetns.name);
      listenAddress = registryNetns.ip;
    }
    const reg = await Registry.start({
      dir: join(dir, 'registry'),
      logger: logger.child({ component: 'registry' }),
      netns: registryNetns?.name,
      listenAddress,
      ...(options.registryPort !== undefined ? { port: options.registryPort } : {}),
    });
    registry = reg;
    const seedBegan = performance.now();
    const images = options.seed === false ? {} : await seedRegistry(reg);
    const seedMs = Math.round(performance.now() - seedBegan);

    const started = await Promise.allSettled(
      Array.from({ length: options.nodes }, async (_, i) => {
        const name = `node-${i}`;
        const ctdDir = await containerdDir(dir, name);
        if (ctdDir.outside) outsideDirs.push(ctdDir.path);
        let netnsName: string | undefined;
        if (options.netns) {
          netnsName = `shoal-${id}-${name}`;
          await createNetns(netnsName);
          createdNetns.push(netnsName);
        }
        const containerd = await Containerd.start({ dir: ctdDir.path, name, netns: netnsName, logger: logger.child({ component: 'containerd', node: name }) });
        const node: EnvNode = { name, containerd, certsDir: containerd.certsDir, ip: containerd.netns?.ip };
        nodes.push(node);
        await writeHostsToml(containerd.certsDir, reg.host);
        return node;
      }),
    );
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    nodes.sort((a, b) => Number(a.name.slice(5)) - Number(b.name.slice(5)));
    logger.info('node env ready', {
      dir,
      registry: reg.url,
      nodes: nodes.map((n) => ({ name: n.name, address: n.containerd.address, ip: n.ip })),
      seedMs,
      totalMs: Math.round(performance.now() - began),
    });
    return { dir, registry: reg, images, nodes, registryNetns, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
