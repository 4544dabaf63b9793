// A TCP proxy for benchmarks: forwards every connection to one target and counts the bytes each way; with a
// rate it also shapes them, like a link of that bandwidth in each direction shared by all connections (one
// token bucket per direction). The mirror benchmark puts it in front of the registry to play a slow upstream,
// and it can count upstream bytes unshaped.
import net from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../operator/src/runtime/log.ts';

/**
 * Admits bytes at `rate` bytes/s on average, with at most `burst` bytes ahead of that. Takers may overdraw: each
 * waits until the debt it leaves is paid back, so concurrent takers are served in arrival order at the rate.
 */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #refilledAt = performance.now();

  constructor(rateBytesPerSecond: number, burstBytes: number) {
    if (!(rateBytesPerSecond > 0) || !Number.isFinite(rateBytesPerSecond)) throw new Error(`rate must be a positive number, got ${rateBytesPerSecond}`);
    if (!(burstBytes > 0)) throw new Error(`burst must be positive, got ${burstBytes}`);
    this.rate = rateBytesPerSecond;
    this.burst = burstBytes;
    this.#tokens = burstBytes;
  }

  /** Resolves once `bytes` may pass; rejects when `signal` aborts. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.rate);
    this.#refilledAt = now;
    this.#tokens -= bytes;
    if (this.#tokens < 0) await sleep((-this.#tokens / this.rate) * 1000, undefined, signal ? { signal } : {});
  }
}

export interface ShaperOptions {
  /** Where connections are forwarded. */
  target: { host: string; port: number };
  /** Bytes per second in each direction, shared by all connections; undefined = no shaping, counting only. */
  rateBytesPerSecond?: number;
  /** Token bucket depth; default 10 ms of the rate, at least 64 KiB (one socket read). */
  burstBytes?: number;
  /** Listen address; default 127.0.0.1, port chosen by the system. */
  listenHost?: string;
  logger?: Logger;
}

export interface ShaperStats {
  /** Connections accepted so far. */
  connections: number;
  /** Bytes forwarded from the target to clients (downloads). */
  bytesToClients: number;
  /** Bytes forwarded from clients to the target (requests, uploads). */
  bytesToTarget: number;
}

/** Forwards each chunk after the bucket admits it (no bucket: at once), counting what passed. */
function meteredStream(bucket: TokenBucket | undefined, signal: AbortSignal, count: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
      if (!bucket) {
        count(chunk.length);
        done(null, chunk);
        return;
      }
      bucket.take(chunk.length, signal).then(
        () => {
          count(chunk.length);
          done(null, chunk);
        },
        (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
      );
    },
  });
}

export class Shaper {
  /** `127.0.0.1:<port>`: use it where the target's host:port would go. */
  readonly host: string;
  readonly port: number;
  readonly rateBytesPerSecond: number | undefined;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #closing = new AbortController();
  readonly #stats: ShaperStats = { connections: 0, bytesToClients: 0, bytesToTarget: 0 };
  readonly #logger: Logger | undefined;

  private constructor(server: net.Server, host: string, port: number, rate: number | undefined, logger: Logger | undefined) {
    this.#server = server;
    this.host = `${host}:${port}`;
    this.port = port;
    this.rateBytesPerSecond = rate;
    this.#logger = logger;
  }

  static async start(options: ShaperOptions): Promise<Shaper> {
    const rate = options.rateBytesPerSecond;
    const burst = options.burstBytes ?? Math.max(64 * 1024, (rate ?? 0) / 100);
    const toClients = rate === undefined ? undefined : new TokenBucket(rate, burst);
    const toTarget = rate === undefined ? undefined : new TokenBucket(rate, burst);
    const listenHost = options.listenHost ?? '127.0.0.1';
    // allowHalfOpen on both legs: a client that sends its request and then FIN still gets the whole answer.
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const shaper = new Shaper(server, listenHost, (server.address() as net.AddressInfo).port, rate, options.logger);
    server.on('connection', (client: net.Socket) => shaper.#forward(client, options.target, toClients, toTarget));
    options.logger?.info('shaper listening', { host: shaper.host, target: `${options.target.host}:${options.target.port}`, rateBytesPerSecond: rate, burstBytes: rate === undefined ? undefined : burst });
    return shaper;
  }

  /** A copy of the counters (subtract two to get what one operation moved). */
  stats(): ShaperStats {
    return { ...this.#stats };
  }

  #forward(client: net.Socket, target: { host: string; port: number }, toClients: TokenBucket | undefined, toTarget: TokenBucket | undefined): void {
    this.#stats.connections++;
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    }
    const signal = this.#closing.signal;
    const up = pipeline(client, meteredStream(toTarget, signal, (n) => (this.#stats.bytesToTarget += n)), upstream);
    const down = pipeline(upstream, meteredStream(toClients, signal, (n) => (this.#stats.bytesToClients += n)), client);
    // A failing direction destroys its streams, which fails the other; once both are done, nothing stays open.
    void Promise.allSettled([up, down]).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed && !signal.aborted) this.#logger?.debug('shaper connection failed', { err: failed.reason as unknown });
      client.destroy();
      upstream.destroy();
    });
  }

  /** Stops listening and cuts every open connection, including ones waiting on the bucket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    this.#logger?.info('shaper closed', { host: this.host, ...this.#stats });
  }
}
