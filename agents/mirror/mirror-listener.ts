// The containerd-facing listener, which follows MirrorPolicy's mirrorPort: a port change binds a new server
// before the old one closes, so containerd (re-reading hosts.toml per pull) always finds one of them.
import type { Logger } from '../../operator/src/runtime/log.ts';
import type { MirrorServer, MirrorServerSettings } from './server.ts';

export class MirrorListener {
  readonly #create: () => MirrorServer;
  readonly #logger: Logger;
  #server: MirrorServer | undefined;
  #wanted: { host: string; port: number } | undefined;
  #bound: { host: string; port: number } | undefined;
  #settings: MirrorServerSettings = {};
  #problem: string | undefined = 'no MirrorPolicy has asked for the mirror yet';
  #binding: Promise<void> = Promise.resolve();

  constructor(create: () => MirrorServer, logger: Logger) {
    this.#create = create;
    this.#logger = logger;
  }

  /** Serves on `host:port` (port 0: any free one), replacing the server on another address; serialized. */
  bind(port: number, host: string): Promise<void> {
    const next = this.#binding.then(() => this.#bind(port, host));
    this.#binding = next.catch(() => undefined);
    return next;
  }

  async #bind(port: number, host: string): Promise<void> {
    if (this.#wanted && this.#wanted.host === host && this.#wanted.port === port && this.#server?.listening) return;
    const server = this.#create();
    server.configure(this.#settings);
    try {
      const bound = await server.listen(port, host);
      const old = this.#server;
      this.#server = server;
      this.#wanted = { host, port };
      this.#bound = { host, port: bound };
      this.#problem = undefined;
      await old?.close();
    } catch (err) {
      this.#problem = `cannot listen on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`;
      this.#logger.error('mirror listener failed', { host, port, err });
      throw err;
    }
  }

  configure(settings: MirrorServerSettings): void {
    this.#settings = { ...this.#settings, ...settings };
    this.#server?.configure(settings);
  }

  /** The URL hosts.toml points containerd at; the policy's port until a server is bound. */
  url(policyPort: number): string {
    const host = this.#bound?.host ?? '127.0.0.1';
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.#bound?.port ?? policyPort}`;
  }

  /** Why containerd cannot reach the mirror, or undefined while it can. */
  problem(): string | undefined {
    return this.#problem;
  }

  async close(): Promise<void> {
    await this.#binding;
    await this.#server?.close();
    this.#server = undefined;
    this.#problem = 'closed';
  }
}
