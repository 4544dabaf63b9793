// ContainerdClient: the node agent's one handle on containerd — a gRPC channel to its unix socket plus a
// typed wrapper per service (client.containers, client.tasks, …). Start here; README.md has the flow.
import type { Logger } from '../../../operator/src/runtime/log.ts';
import { Containers } from './containers.ts';
import { Content } from './content.ts';
import { CriImages } from './cri.ts';
import { str } from './decode.ts';
import { Events } from './events.ts';
import { Images } from './images.ts';
import { Leases } from './leases.ts';
import { protos } from './protos.ts';
import { Rpc, type CallOptions } from './rpc.ts';
import { Snapshots } from './snapshots.ts';
import { Tasks } from './tasks.ts';

export interface ConnectOptions {
  /** containerd's gRPC socket path, e.g. /run/containerd/containerd.sock (no "unix://" prefix needed). */
  address: string;
  /** containerd namespace for every call (containers, tasks, snapshots, images, content, leases). */
  namespace: string;
  logger: Logger;
  /** Default deadline of unary calls, ms. Default 10 000. wait() and streams have none. */
  timeoutMs?: number;
  /** How long connect() waits for the socket and the Version call. Default: timeoutMs. */
  connectTimeoutMs?: number;
}

export interface ContainerdVersion {
  version: string;
  revision: string;
}

export class ContainerdClient {
  readonly #rpc: Rpc;
  readonly containers: Containers;
  readonly tasks: Tasks;
  readonly snapshots: Snapshots;
  readonly images: Images;
  readonly content: Content;
  readonly leases: Leases;
  readonly events: Events;
  /** CRI ImageService (always namespace k8s.io, whatever ours is). */
  readonly cri: CriImages;

  private constructor(rpc: Rpc) {
    this.#rpc = rpc;
    this.containers = new Containers(rpc);
    this.tasks = new Tasks(rpc);
    this.snapshots = new Snapshots(rpc);
    this.images = new Images(rpc);
    this.content = new Content(rpc);
    this.leases = new Leases(rpc);
    this.events = new Events(rpc);
    this.cri = new CriImages(rpc);
  }

  /** Opens the channel and checks containerd answers (Version); rejects with UNAVAILABLE if it does not. */
  static async connect(options: ConnectOptions): Promise<ContainerdClient> {
    protos(); // parse the .proto files now, not on the first call
    const timeoutMs = options.timeoutMs ?? 10_000;
    const rpc = Rpc.open({ address: options.address, namespace: options.namespace, logger: options.logger, timeoutMs });
    const client = new ContainerdClient(rpc);
    try {
      const connectTimeoutMs = options.connectTimeoutMs ?? timeoutMs;
      await rpc.ready(connectTimeoutMs);
      const version = await client.version({ timeoutMs: connectTimeoutMs });
      options.logger.debug('connected to containerd', { address: rpc.address, namespace: options.namespace, ...version });
    } catch (err) {
      rpc.close();
      throw err;
    }
    return client;
  }

  get namespace(): string {
    return this.#rpc.namespace;
  }

  /** The lease id sent with every call of this view, if any. */
  get lease(): string | undefined {
    return this.#rpc.lease;
  }

  /** A view whose calls carry `containerd-lease: <id>`: what they create is protected by that lease. Same channel. */
  withLease(leaseId: string): ContainerdClient {
    return new ContainerdClient(this.#rpc.with({ lease: leaseId }));
  }

  /** A view on another namespace. Same channel. */
  withNamespace(namespace: string): ContainerdClient {
    return new ContainerdClient(this.#rpc.with({ namespace }));
  }

  async version(options?: CallOptions): Promise<ContainerdVersion> {
    const res = await this.#rpc.unary('version', 'Version', {}, options);
    return { version: str(res, 'version'), revision: str(res, 'revision') };
  }

  /** Closes the channel (for every view); in-flight calls fail with CANCELLED/UNAVAILABLE. */
  close(): void {
    this.#rpc.close();
  }
}
