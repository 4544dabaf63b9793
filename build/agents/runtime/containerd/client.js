import { Containers } from "./containers.js";
import { Content } from "./content.js";
import { CriImages } from "./cri.js";
import { str } from "./decode.js";
import { Events } from "./events.js";
import { Images } from "./images.js";
import { Leases } from "./leases.js";
import { protos } from "./protos.js";
import { Rpc } from "./rpc.js";
import { Snapshots } from "./snapshots.js";
import { Tasks } from "./tasks.js";
export class ContainerdClient {
    #rpc;
    containers;
    tasks;
    snapshots;
    images;
    content;
    leases;
    events;
    /** CRI ImageService (always namespace k8s.io, whatever ours is). */
    cri;
    constructor(rpc) {
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
    static async connect(options) {
        protos(); // parse the .proto files now, not on the first call
        const timeoutMs = options.timeoutMs ?? 10_000;
        const rpc = Rpc.open({ address: options.address, namespace: options.namespace, logger: options.logger, timeoutMs });
        const client = new ContainerdClient(rpc);
        try {
            const connectTimeoutMs = options.connectTimeoutMs ?? timeoutMs;
            await rpc.ready(connectTimeoutMs);
            const version = await client.version({ timeoutMs: connectTimeoutMs });
            options.logger.debug('connected to containerd', { address: rpc.address, namespace: options.namespace, ...version });
        }
        catch (err) {
            rpc.close();
            throw err;
        }
        return client;
    }
    get namespace() {
        return this.#rpc.namespace;
    }
    /** The lease id sent with every call of this view, if any. */
    get lease() {
        return this.#rpc.lease;
    }
    /** A view whose calls carry `containerd-lease: <id>`: what they create is protected by that lease. Same channel. */
    withLease(leaseId) {
        return new ContainerdClient(this.#rpc.with({ lease: leaseId }));
    }
    /** A view on another namespace. Same channel. */
    withNamespace(namespace) {
        return new ContainerdClient(this.#rpc.with({ namespace }));
    }
    async version(options) {
        const res = await this.#rpc.unary('version', 'Version', {}, options);
        return { version: str(res, 'version'), revision: str(res, 'revision') };
    }
    /** Closes the channel (for every view); in-flight calls fail with CANCELLED/UNAVAILABLE. */
    close() {
        this.#rpc.close();
    }
}
