// A real OCI registry (Debian's `docker-registry`, i.e. CNCF distribution 2.8) for the node agent's
// tests and `make up`: filesystem storage under its dir, plain HTTP on a free port, deletes enabled,
// no auth. Optionally inside a network namespace made by hack/containerd.ts `createNetns`, listening
// on that netns's address, so containerd instances in other netns "hosts" reach it over the veths.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { createLogger, type Logger } from '../operator/src/runtime/log.ts';
import { ManagedProcess, freePort, tailFile } from './controlplane.ts';

export interface RegistryOptions {
  /** Working directory (created if missing): config.yml, data/, registry.log, registry.pid. */
  dir: string;
  logger?: Logger;
  /** Run inside this existing network namespace (`/run/netns/<name>`). */
  netns?: string;
  /** Address to listen on; default 127.0.0.1 (with `netns`, pass the netns's address). */
  listenAddress?: string;
  /** Port; default a free loopback port. */
  port?: number;
  /** Deadline for `GET /v2/` to answer 200; default 30 s. */
  startTimeoutMs?: number;
}

export class Registry {
  /** `http://<host>` */
  readonly url: string;
  /** `<address>:<port>`: the registry part of image references, and the hosts.toml directory name. */
  readonly host: string;
  readonly dir: string;
  readonly dataDir: string;
  readonly logPath: string;

  private readonly logger: Logger;
  private proc: ManagedProcess | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(dir: string, host: string, logger: Logger) {
    this.dir = dir;
    this.host = host;
    this.url = `http://${host}`;
    this.dataDir = join(dir, 'data');
    this.logPath = join(dir, 'registry.log');
    this.logger = logger;
  }

  get pid(): number | undefined {
    return this.proc?.running ? this.proc.pid : undefined;
  }

  static async start(options: RegistryOptions): Promise<Registry> {
    const began = performance.now();
    const dir = resolve(options.dir);
    const logger = options.logger ?? createLogger({ component: 'registry' });
    const address = options.listenAddress ?? '127.0.0.1';
    const port = options.port ?? (await freePort());
    const host = `${address}:${port}`;
    const registry = new Registry(dir, host, logger);
    await mkdir(registry.dataDir, { recursive: true });
    const config = {
      version: 0.1,
      log: { level: 'info', formatter: 'text', accesslog: { disabled: true }, fields: { service: 'registry' } },
      storage: {
        filesystem: { rootdirectory: registry.dataDir },
        delete: { enabled: true },
        cache: { blobdescriptor: 'inmemory' },
        maintenance: { uploadpurging: { enabled: false }, readonly: { enabled: false } },
        redirect: { disable: true },
      },
      http: {
        addr: host,
        // Without a fixed secret the registry logs a warning and makes one up; any value works for one instance.
        secret: randomBytes(16).toString('hex'),
        headers: { 'X-Content-Type-Options': ['nosniff'] },
      },
      health: { storagedriver: { enabled: false } },
    };
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, YAML.stringify(config));
    const registryArgs = ['serve', configPath];
    const [command, args] =
      options.netns !== undefined ? ['nsenter', [`--net=/run/netns/${options.netns}`, '--', 'docker-registry', ...registryArgs]] : ['docker-registry', registryArgs];
    registry.proc = await ManagedProcess.spawn('registry', command, args, registry.logPath, join(dir, 'registry.pid'));
    try {
      await registry.waitReady(options.startTimeoutMs ?? 30_000);
    } catch (err) {
      await registry.stop();
      throw err;
    }
    logger.info('registry ready', { url: registry.url, dir, netns: options.netns, pid: registry.pid, ms: Math.round(performance.now() - began) });
    return registry;
  }

  /** SIGTERM the registry (SIGKILL after 10 s) and wait for it. Keeps the data. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const proc = this.proc;
      this.proc = undefined;
      if (proc) await proc.stop();
      this.logger.info('registry stopped', { url: this.url });
    })();
    return this.stopping;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError = '';
    for (;;) {
      const proc = this.proc;
      if (!proc?.running) {
        throw new Error(`registry ${proc ? proc.describeExit() : 'stopped'} before becoming ready; last lines of ${this.logPath}:\n${tailFile(this.logPath)}`);
      }
      try {
        const res = await fetch(`${this.url}/v2/`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
        lastError = `GET /v2/: ${res.status}`;
      } catch (err) {
        lastError = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err);
      }
      if (Date.now() > deadline) {
        throw new Error(`registry at ${this.url} not ready after ${timeoutMs} ms (${lastError}); last lines of ${this.logPath}:\n${tailFile(this.logPath)}`);
      }
      await sleep(50);
    }
  }
}
