// The transport under every service wrapper: one grpc-js channel to containerd's unix socket, the
// containerd-namespace (and optional containerd-lease) metadata on every call, deadlines, error mapping.
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../operator/src/runtime/log.ts';
import { message, type Message } from './decode.ts';
import { ContainerdError, Status, toContainerdError } from './errors.ts';
import { protos, type ServiceKey } from './protos.ts';

/** Per-call knobs. */
export interface CallOptions {
  /** Deadline in ms from now; `null` = no deadline (long waits). Default: the client's `timeoutMs`. */
  timeoutMs?: number | null;
  /** Aborting cancels the RPC (it then rejects with CANCELLED). */
  signal?: AbortSignal;
  /** Queue the call until the socket is connectable instead of failing fast with UNAVAILABLE. */
  waitForReady?: boolean;
}

/** A server-streaming RPC as an async iterable; `cancel()` ends it cleanly (the loop just finishes). */
export interface Stream<T> extends AsyncIterable<T> {
  cancel(): void;
}

interface Scope {
  namespace: string;
  lease: string | undefined;
}

interface Shared {
  client: grpc.Client;
  logger: Logger;
  timeoutMs: number;
  address: string;
}

export interface RpcOpenOptions {
  /** Path of containerd's gRPC unix socket (config `[grpc] address`). */
  address: string;
  namespace: string;
  logger: Logger;
  timeoutMs: number;
}

export class Rpc {
  readonly #shared: Shared;
  readonly #scope: Scope;

  private constructor(shared: Shared, scope: Scope) {
    this.#shared = shared;
    this.#scope = scope;
  }

  static open(options: RpcOpenOptions): Rpc {
    const address = resolve(options.address);
    // One Client (= one channel, one HTTP/2 connection) carries every service: methods are addressed by path.
    const client = new grpc.Client(`unix://${address}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // containerd restarts are routine: reconnect quickly instead of grpc's default backoff up to 120 s.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      // The default 64 KiB HTTP/2 window stalls blob reads (Content.Read) on window updates: ~2× throughput.
      'grpc-node.flow_control_window': 4 * 1024 * 1024,
    });
    return new Rpc({ client, logger: options.logger, timeoutMs: options.timeoutMs, address }, { namespace: options.namespace, lease: undefined });
  }

  get namespace(): string {
    return this.#scope.namespace;
  }

  get lease(): string | undefined {
    return this.#scope.lease;
  }

  get address(): string {
    return this.#shared.address;
  }

  get logger(): Logger {
    return this.#shared.logger;
  }

  /** Same channel, different namespace and/or lease header. */
  with(scope: Partial<Scope>): Rpc {
    return new Rpc(this.#shared, { ...this.#scope, ...scope });
  }

  close(): void {
    this.#shared.client.close();
  }

  /** Resolves once the channel is connected (or rejects after `timeoutMs`). */
  ready(timeoutMs = this.#shared.timeoutMs): Promise<void> {
    return new Promise((resolveReady, reject) => {
      this.#shared.client.waitForReady(Date.now() + timeoutMs, (err) => {
        if (err) reject(new ContainerdError('connect', Status.UNAVAILABLE, `${this.address}: ${err.message}`, { cause: err }));
        else resolveReady();
      });
    });
  }

  #metadata(options: CallOptions): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('containerd-namespace', this.#scope.namespace);
    if (this.#scope.lease) md.set('containerd-lease', this.#scope.lease);
    if (options.waitForReady) md.setOptions({ waitForReady: true });
    return md;
  }

  #deadline(options: CallOptions): grpc.Deadline {
    const timeout = options.timeoutMs === undefined ? this.#shared.timeoutMs : options.timeoutMs;
    return timeout === null ? Infinity : Date.now() + timeout;
  }

  #method(service: ServiceKey, method: string): grpc.MethodDefinition<object, unknown> {
    const definition = protos().services[service].service[method];
    if (!definition) throw new Error(`unknown method ${service}.${method}`);
    return definition as grpc.MethodDefinition<object, unknown>;
  }

  /** A unary RPC; resolves with the decoded response message. */
  unary(service: ServiceKey, method: string, request: object, options: CallOptions = {}): Promise<Message> {
    const def = this.#method(service, method);
    const name = `${service}.${method}`;
    const started = performance.now();
    return new Promise((resolveCall, reject) => {
      if (options.signal?.aborted) {
        reject(new ContainerdError(name, Status.CANCELLED, 'aborted before the call started'));
        return;
      }
      const call = this.#shared.client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        this.#metadata(options),
        { deadline: this.#deadline(options) },
        (err, value) => {
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
          } catch (decodeErr) {
            reject(decodeErr);
          }
        },
      );
      const onAbort = (): void => call.cancel();
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A server-streaming RPC; no deadline unless `timeoutMs` is given (streams are long-lived). */
  serverStream(service: ServiceKey, method: string, request: object, options: CallOptions = {}): Stream<Message> {
    const def = this.#method(service, method);
    const name = `${service}.${method}`;
    const call = this.#shared.client.makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      request,
      this.#metadata(options),
      { deadline: this.#deadline({ ...options, timeoutMs: options.timeoutMs ?? null }) },
    );
    let cancelled = false;
    const cancel = (): void => {
      if (cancelled) return;
      cancelled = true;
      call.cancel();
    };
    options.signal?.addEventListener('abort', cancel, { once: true });
    if (options.signal?.aborted) cancel();
    // Buffer messages and the final status ourselves: Node's Readable iterator turns grpc's CANCELLED into an error.
    const queue: unknown[] = [];
    let finished = false;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    call.on('data', (msg: unknown) => {
      queue.push(msg);
      notify();
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (!(cancelled && err.code === Status.CANCELLED)) failure = toContainerdError(name, err);
      finished = true;
      notify();
    });
    call.on('end', () => {
      finished = true;
      notify();
    });
    async function* iterate(): AsyncGenerator<Message> {
      try {
        for (;;) {
          if (queue.length > 0) {
            yield message(queue.shift(), name);
            continue;
          }
          if (failure) throw failure;
          if (finished) return;
          await new Promise<void>((resolveWake) => {
            wake = resolveWake;
          });
        }
      } finally {
        options.signal?.removeEventListener('abort', cancel);
        cancel(); // the consumer broke out early: stop the server side too
      }
    }
    const iterator = iterate();
    return { cancel, [Symbol.asyncIterator]: () => iterator };
  }

  /** A finite server stream (list calls) collected into an array, under the default unary deadline. */
  async collect(service: ServiceKey, method: string, request: object, options: CallOptions = {}): Promise<Message[]> {
    const timeoutMs = options.timeoutMs === undefined ? this.#shared.timeoutMs : options.timeoutMs;
    const out: Message[] = [];
    for await (const msg of this.serverStream(service, method, request, { ...options, timeoutMs })) out.push(msg);
    return out;
  }
}
