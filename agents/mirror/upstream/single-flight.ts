// Pull-through with one upstream fetch per digest: the first open() of a digest starts a flight that GETs the
// blob once and spools it to disk; every open() meanwhile, or until the spool expires, tails that file instead
// of asking upstream again. The digest is checked while spooling (verify.ts); a bad or broken fetch fails
// every reader and deletes the file. Completed spools expire after a TTL, and their total size is bounded.
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalRegistry } from '../keys.ts';
import { isSha256Digest } from '../routes.ts';
import type { ByteRange } from '../source.ts';
import { IntegrityError, StreamCheck } from '../verify.ts';
import { Backoff, sleep, type BackoffOptions } from '../../../operator/src/runtime/backoff.ts';
import type { Logger } from '../../../operator/src/runtime/log.ts';
import { SpoolFullError, SpoolWriteError, UpstreamError } from './errors.ts';
import type { UpstreamMetrics, UpstreamResult } from './metrics.ts';
import type { BlobResponse, Missing, RegistryClient } from './registry-client.ts';
import { Spool, type SpoolState } from './spool.ts';

export interface UpstreamFetcherOptions {
  client: RegistryClient;
  /** Directory for spool files, e.g. `<agent state dir>/mirror-spool`: created, and cleared of old spools by create(). */
  spoolDir: string;
  logger: Logger;
  metrics: UpstreamMetrics;
  /** How long a completed spool stays after it was last opened; default 5 min. */
  ttlMs?: number;
  /** Disk for spools in flight and completed; default 10 GiB. A blob that does not fit is not fetched. */
  maxSpoolBytes?: number;
  /** Upstream attempts per flight; a broken body resumes with `Range` from the last byte received. Default 3. */
  maxAttempts?: number;
  /** Pause between attempts; default 500 ms doubling to 5 s. */
  backoff?: BackoffOptions;
}

export interface UpstreamBlob {
  /** The whole blob's size, whatever the range. */
  size: number;
  /** The requested range (the whole blob by default) as it arrives; throws if the fetch fails or the digest does not match. */
  chunks: AsyncIterable<Uint8Array>;
}

export interface UpstreamManifest {
  mediaType: string;
  bytes: Buffer;
}

export interface SpoolStatus {
  size: number;
  written: number;
  state: SpoolState;
}

interface Flight {
  digest: string;
  /** The spool once upstream answered with a size; undefined when upstream does not have the blob. */
  ready: Promise<Spool | undefined>;
  spool: Spool | undefined;
  /** Bytes of the spool bound held by this flight. */
  reserved: number;
  lastUsed: number;
  expiry: NodeJS.Timeout | undefined;
  done: Promise<void>;
}

const spoolSuffix = '.spool';

export class UpstreamFetcher {
  readonly #client: RegistryClient;
  readonly #dir: string;
  readonly #logger: Logger;
  readonly #metrics: UpstreamMetrics;
  readonly #ttlMs: number;
  readonly #maxSpoolBytes: number;
  readonly #maxAttempts: number;
  readonly #backoff: BackoffOptions;
  readonly #flights = new Map<string, Flight>();
  readonly #manifests = new Map<string, Promise<UpstreamManifest | undefined>>();
  /** Aborts every upstream request on close(); flights do not follow their first reader's signal. */
  readonly #stop = new AbortController();
  #reservedBytes = 0;

  private constructor(options: UpstreamFetcherOptions) {
    this.#client = options.client;
    this.#dir = options.spoolDir;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#ttlMs = options.ttlMs ?? 5 * 60_000;
    this.#maxSpoolBytes = options.maxSpoolBytes ?? 10 * 1024 ** 3;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.#backoff = options.backoff ?? { initialMs: 500, maxMs: 5_000 };
  }

  /** Creates the spool directory and deletes spools a previous process left behind. */
  static async create(options: UpstreamFetcherOptions): Promise<UpstreamFetcher> {
    await mkdir(options.spoolDir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(options.spoolDir)) {
      if (name.endsWith(spoolSuffix)) await rm(join(options.spoolDir, name), { force: true });
    }
    const fetcher = new UpstreamFetcher(options);
    fetcher.#metrics.spoolBytes.set(0);
    return fetcher;
  }

  /**
   * The blob `digest` from `<registry>/<repository>`, or `range` of it; undefined when upstream does not have it
   * or refuses anonymous access. Concurrent and later (within the TTL) calls for the same digest share one
   * upstream fetch. `signal` ends this caller's wait and stream only, never the shared fetch.
   */
  async open(registry: string, repository: string, digest: string, range: ByteRange | undefined, signal: AbortSignal): Promise<UpstreamBlob | undefined> {
    if (!isSha256Digest(digest)) throw new TypeError(`invalid digest ${JSON.stringify(digest)}: expected sha256:<64 hex>`);
    if (this.#stop.signal.aborted) throw new Error('upstream fetcher is closed');
    let flight = this.#flights.get(digest);
    if (flight !== undefined) this.#metrics.coalescedReaders.inc();
    else flight = this.#start(registry, repository, digest);
    flight.lastUsed = Date.now();
    flight.expiry?.refresh();
    const spool = await abortable(flight.ready, signal);
    if (spool === undefined) return undefined;
    const slice = range ?? { offset: 0, length: spool.size };
    if (slice.offset < 0 || slice.length < 0 || slice.offset + slice.length > spool.size) {
      throw new RangeError(`range ${slice.offset}+${slice.length} outside ${digest} (${spool.size} bytes)`);
    }
    return { size: spool.size, chunks: spool.read(slice, signal) };
  }

  /** A manifest or index by digest (small, kept in memory, not spooled); concurrent calls share one request. */
  async manifest(registry: string, repository: string, digest: string, signal: AbortSignal): Promise<UpstreamManifest | undefined> {
    if (!isSha256Digest(digest)) throw new TypeError(`invalid digest ${JSON.stringify(digest)}: expected sha256:<64 hex>`);
    let pending = this.#manifests.get(digest);
    if (pending !== undefined) this.#metrics.coalescedReaders.inc();
    else {
      pending = this.#fetchManifest(registry, repository, digest);
      this.#manifests.set(digest, pending);
      const forget = (): void => {
        this.#manifests.delete(digest);
      };
      void pending.then(forget, forget);
    }
    return abortable(pending, signal);
  }

  /** What is known locally about `digest`: a spool in flight or completed, or undefined. */
  status(digest: string): SpoolStatus | undefined {
    const spool = this.#flights.get(digest)?.spool;
    return spool === undefined ? undefined : { size: spool.size, written: spool.written, state: spool.state };
  }

  /** Aborts every fetch (their readers fail) and deletes every spool. */
  async close(): Promise<void> {
    this.#stop.abort(new Error('upstream fetcher closed'));
    await Promise.all([...this.#flights.values()].map((flight) => flight.done));
    for (const flight of [...this.#flights.values()]) this.#evict(flight);
  }

  #start(registry: string, repository: string, digest: string): Flight {
    const ready = Promise.withResolvers<Spool | undefined>();
    // The opener that started the flight may have gone away: a rejection nobody waits for must not crash.
    void ready.promise.catch(() => undefined);
    const flight: Flight = { digest, ready: ready.promise, spool: undefined, reserved: 0, lastUsed: Date.now(), expiry: undefined, done: Promise.resolve() };
    this.#flights.set(digest, flight);
    flight.done = this.#run(flight, registry, repository, ready);
    return flight;
  }

  /** The flight itself: never throws; failures go to the readers, the log and the metric. */
  async #run(flight: Flight, registry: string, repository: string, ready: PromiseWithResolvers<Spool | undefined>): Promise<void> {
    const { digest } = flight;
    const log = this.#logger.child({ registry, repository, digest });
    const began = performance.now();
    let result: UpstreamResult = 'error';
    try {
      const first = await this.#firstResponse(registry, repository, digest, log);
      if (first.kind === 'missing') {
        result = first.reason;
        this.#drop(flight);
        ready.resolve(undefined);
        return;
      }
      let spool: Spool;
      try {
        this.#reserve(flight, first.size);
        spool = await Spool.create(join(this.#dir, `${digest.slice('sha256:'.length)}-${randomUUID().slice(0, 8)}${spoolSuffix}`), first.size);
      } catch (err) {
        first.discard();
        throw err;
      }
      flight.spool = spool;
      ready.resolve(spool);
      await this.#fill(spool, first, registry, repository, digest, log);
      await spool.complete();
      result = 'ok';
      flight.expiry = setTimeout(() => this.#evict(flight), this.#ttlMs).unref();
      log.info('upstream blob spooled', { size: spool.size, ms: Math.round(performance.now() - began) });
    } catch (err) {
      const error = err instanceof Error ? err : new UpstreamError(String(err));
      result = error instanceof IntegrityError ? 'integrity' : error instanceof SpoolFullError ? 'spool_full' : 'error';
      this.#drop(flight);
      await flight.spool?.fail(error);
      ready.reject(error);
      log.warn('upstream blob fetch failed', { err: error, ms: Math.round(performance.now() - began) });
    } finally {
      this.#metrics.requests.inc({ registry: this.#metrics.registryLabel(canonicalRegistry(registry)), result });
    }
  }

  /** The first GET, retried with backoff on network errors and 5xx: every waiting node depends on this one request. */
  async #firstResponse(registry: string, repository: string, digest: string, log: Logger): Promise<BlobResponse | Missing> {
    const backoff = new Backoff(this.#backoff);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#client.blob(registry, repository, digest, undefined, this.#stop.signal);
      } catch (err) {
        if (!(err instanceof UpstreamError) || this.#stop.signal.aborted || attempt >= this.#maxAttempts) throw err;
        log.warn('upstream blob request failed; retrying', { err, attempt });
        await sleep(backoff.next(), this.#stop.signal);
      }
    }
  }

  /** Copies the body into the spool through the digest check, resuming a broken body with a range request. */
  async #fill(spool: Spool, first: BlobResponse, registry: string, repository: string, digest: string, log: Logger): Promise<void> {
    const signal = this.#stop.signal;
    const check = new StreamCheck({ digest, size: spool.size });
    const backoff = new Backoff(this.#backoff);
    let received = 0;
    let response: BlobResponse | undefined = first;
    const append = async (part: Buffer): Promise<void> => {
      try {
        await spool.append(part);
      } catch (err) {
        throw new SpoolWriteError(`cannot write ${spool.path}: ${(err as Error).message}`, { cause: err });
      }
    };
    for (let attempt = 1; ; attempt++) {
      try {
        if (response === undefined) {
          const next = await this.#client.blob(registry, repository, digest, { offset: received, length: spool.size - received }, signal);
          if (next.kind === 'missing') throw new UpstreamError(`blob became ${next.reason} when resuming at byte ${received}`);
          response = next;
        }
        if (response.size !== spool.size) throw new IntegrityError(`upstream size changed from ${spool.size} to ${response.size} bytes`);
        // A registry may ignore the range and send the whole blob: skip what we already have.
        let skip = received - response.offset;
        if (skip < 0) throw new UpstreamError(`resumed body starts at ${response.offset}, after byte ${received}`);
        for await (const chunk of response.body) {
          let piece = chunk;
          if (skip > 0) {
            if (piece.length <= skip) {
              skip -= piece.length;
              continue;
            }
            piece = piece.subarray(skip);
            skip = 0;
          }
          received += piece.length;
          for (const part of check.push(piece)) await append(part);
        }
        if (received < spool.size) throw new UpstreamError(`upstream body ended after ${received} of ${spool.size} bytes`);
        for (const part of check.finish()) await append(part);
        return;
      } catch (err) {
        response?.discard();
        response = undefined;
        if (err instanceof IntegrityError || err instanceof SpoolWriteError || signal.aborted || attempt >= this.#maxAttempts) throw err;
        log.warn('upstream blob body broke; resuming', { err, received, attempt });
        await sleep(backoff.next(), signal);
      }
    }
  }

  async #fetchManifest(registry: string, repository: string, digest: string): Promise<UpstreamManifest | undefined> {
    let result: UpstreamResult = 'error';
    try {
      const response = await this.#client.manifest(registry, repository, digest, this.#stop.signal);
      if (response.kind === 'missing') {
        result = response.reason;
        return undefined;
      }
      result = 'ok';
      return { mediaType: response.mediaType, bytes: response.bytes };
    } catch (err) {
      if (err instanceof IntegrityError) result = 'integrity';
      this.#logger.warn('upstream manifest fetch failed', { registry, repository, digest, err });
      throw err;
    } finally {
      this.#metrics.requests.inc({ registry: this.#metrics.registryLabel(canonicalRegistry(registry)), result });
    }
  }

  /** Holds `size` bytes of the bound, evicting completed spools least recently opened first. */
  #reserve(flight: Flight, size: number): void {
    if (size > this.#maxSpoolBytes) throw new SpoolFullError(`blob of ${size} bytes exceeds the spool bound of ${this.#maxSpoolBytes}`);
    while (this.#reservedBytes + size > this.#maxSpoolBytes) {
      let victim: Flight | undefined;
      for (const candidate of this.#flights.values()) {
        if (candidate.spool?.state === 'complete' && (victim === undefined || candidate.lastUsed < victim.lastUsed)) victim = candidate;
      }
      if (victim === undefined) throw new SpoolFullError(`no room for ${size} bytes: ${this.#reservedBytes} of ${this.#maxSpoolBytes} held by fetches in flight`);
      this.#evict(victim);
    }
    flight.reserved = size;
    this.#reservedBytes += size;
    this.#metrics.spoolBytes.set(this.#reservedBytes);
  }

  /** Forgets the flight: new opens start over; its share of the bound is released. */
  #drop(flight: Flight): void {
    if (this.#flights.get(flight.digest) === flight) this.#flights.delete(flight.digest);
    clearTimeout(flight.expiry);
    flight.expiry = undefined;
    this.#reservedBytes -= flight.reserved;
    flight.reserved = 0;
    this.#metrics.spoolBytes.set(this.#reservedBytes);
  }

  /** Drops a completed flight and deletes its file; readers that already opened it finish from their descriptor. */
  #evict(flight: Flight): void {
    this.#drop(flight);
    void flight.spool?.remove().catch((err: unknown) => this.#logger.warn('cannot delete spool file', { path: flight.spool?.path, err }));
  }
}

/** `promise`, or a rejection with the signal's reason as soon as `signal` aborts (the promise itself goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
