// The transport under every service wrapper: one grpc-js channel to containerd's unix socket, the
// containerd-namespace (and optional containerd-lease) metadata on every call, deadlines, error mapping.
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { message } from "./decode.js";
import { ContainerdError, Status, toContainerdError } from "./errors.js";
import { protos } from "./protos.js";
export class Rpc {
    #shared;
    #scope;
    constructor(shared, scope) {
        this.#shared = shared;
        this.#scope = scope;
    }
    static open(options) {
        const address = resolve(options.address);
        // One Client (= one channel, one HTTP/2 connection) carries every service: methods are addressed by path.
        const client = new grpc.Client(`unix://${address}`, grpc.credentials.createInsecure(), {
            'grpc.max_receive_message_length': 64 * 1024 * 1024,
            // containerd restarts are routine: reconnect quickly instead of grpc's default backoff up to 120 s.
            'grpc.initial_reconnect_backoff_ms': 100,
            'grpc.max_reconnect_backoff_ms': 2000,
        });
        return new Rpc({ client, logger: options.logger, timeoutMs: options.timeoutMs, address }, { namespace: options.namespace, lease: undefined });
    }
    get namespace() {
        return this.#scope.namespace;
    }
    get lease() {
        return this.#scope.lease;
    }
    get address() {
        return this.#shared.address;
    }
    get logger() {
        return this.#shared.logger;
    }
    /** Same channel, different namespace and/or lease header. */
    with(scope) {
        return new Rpc(this.#shared, { ...this.#scope, ...scope });
    }
    close() {
        this.#shared.client.close();
    }
    /** Resolves once the channel is connected (or rejects after `timeoutMs`). */
    ready(timeoutMs = this.#shared.timeoutMs) {
        return new Promise((resolveReady, reject) => {
            this.#shared.client.waitForReady(Date.now() + timeoutMs, (err) => {
                if (err)
                    reject(new ContainerdError('connect', Status.UNAVAILABLE, `${this.address}: ${err.message}`, { cause: err }));
                else
                    resolveReady();
            });
        });
    }
    #metadata(options) {
        const md = new grpc.Metadata();
        md.set('containerd-namespace', this.#scope.namespace);
        if (this.#scope.lease)
            md.set('containerd-lease', this.#scope.lease);
        if (options.waitForReady)
            md.setOptions({ waitForReady: true });
        return md;
    }
    #deadline(options) {
        const timeout = options.timeoutMs === undefined ? this.#shared.timeoutMs : options.timeoutMs;
        return timeout === null ? Infinity : Date.now() + timeout;
    }
    #method(service, method) {
        const definition = protos().services[service].service[method];
        if (!definition)
            throw new Error(`unknown method ${service}.${method}`);
        return definition;
    }
    /** A unary RPC; resolves with the decoded response message. */
    unary(service, method, request, options = {}) {
        const def = this.#method(service, method);
        const name = `${service}.${method}`;
        const started = performance.now();
        return new Promise((resolveCall, reject) => {
            if (options.signal?.aborted) {
                reject(new ContainerdError(name, Status.CANCELLED, 'aborted before the call started'));
                return;
            }
            const call = this.#shared.client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, this.#metadata(options), { deadline: this.#deadline(options) }, (err, value) => {
                options.signal?.removeEventListener('abort', onAbort);
                const ms = Math.round(performance.now() - started);
                if (err) {
                    this.#shared.logger.debug('containerd call failed', { method: name, ms, code: Status[err.code], details: err.details });
                    reject(toContainerdError(name, err));
                    return;
                }
                this.#shared.logger.debug('containerd call', { method: name, ms });
                try {
                    resolveCall(message(value ?? {}, name));
                }
                catch (decodeErr) {
                    reject(decodeErr);
                }
            });
            const onAbort = () => call.cancel();
            options.signal?.addEventListener('abort', onAbort, { once: true });
        });
    }
    /** A server-streaming RPC; no deadline unless `timeoutMs` is given (streams are long-lived). */
    serverStream(service, method, request, options = {}) {
        const def = this.#method(service, method);
        const name = `${service}.${method}`;
        const call = this.#shared.client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, request, this.#metadata(options), { deadline: this.#deadline({ ...options, timeoutMs: options.timeoutMs ?? null }) });
        let cancelled = false;
        const cancel = () => {
            if (cancelled)
                return;
            cancelled = true;
            call.cancel();
        };
        options.signal?.addEventListener('abort', cancel, { once: true });
        if (options.signal?.aborted)
            cancel();
        // Buffer messages and the final status ourselves: Node's Readable iterator turns grpc's CANCELLED into an error.
        const queue = [];
        let finished = false;
        let failure;
        let wake;
        const notify = () => {
            const w = wake;
            wake = undefined;
            w?.();
        };
        call.on('data', (msg) => {
            queue.push(msg);
            notify();
        });
        call.on('error', (err) => {
            if (!(cancelled && err.code === Status.CANCELLED))
                failure = toContainerdError(name, err);
            finished = true;
            notify();
        });
        call.on('end', () => {
            finished = true;
            notify();
        });
        async function* iterate() {
            try {
                for (;;) {
                    if (queue.length > 0) {
                        yield message(queue.shift(), name);
                        continue;
                    }
                    if (failure)
                        throw failure;
                    if (finished)
                        return;
                    await new Promise((resolveWake) => {
                        wake = resolveWake;
                    });
                }
            }
            finally {
                options.signal?.removeEventListener('abort', cancel);
                cancel(); // the consumer broke out early: stop the server side too
            }
        }
        const iterator = iterate();
        return { cancel, [Symbol.asyncIterator]: () => iterator };
    }
    /** A finite server stream (list calls) collected into an array, under the default unary deadline. */
    async collect(service, method, request, options = {}) {
        const timeoutMs = options.timeoutMs === undefined ? this.#shared.timeoutMs : options.timeoutMs;
        const out = [];
        for await (const msg of this.serverStream(service, method, request, { ...options, timeoutMs }))
            out.push(msg);
        return out;
    }
}
