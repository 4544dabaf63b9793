// The local ContentSource: containerd's content store and image records (namespace k8s.io, where CRI pulls),
// read over the agent's ContainerdClient. Lookups carry short deadlines: a slow answer is worse than a 404,
// after which containerd simply tries the next host.
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../operator/src/runtime/log.ts';
import type { ContentInfo, ReadOptions } from '../runtime/containerd/content.ts';
import { isNotFound } from '../runtime/containerd/errors.ts';
import type { ImageRecord } from '../runtime/containerd/images.ts';
import type { CallOptions } from '../runtime/containerd/rpc.ts';
import { tagKey } from './keys.ts';
import { manifestMediaType, manifestMediaTypes, maxManifestBytes } from './manifest-type.ts';
import { isSha256Digest } from './routes.ts';
import type { BlobDescriptor, ByteRange, ContentSource, ManifestDescriptor } from './source.ts';

/** The part of ContainerdClient this source uses (ContainerdClient satisfies it; tests can fake it). */
export interface ContainerdStore {
  images: { get(name: string, options?: CallOptions): Promise<Pick<ImageRecord, 'target'>> };
  content: {
    info(digest: string, options?: CallOptions): Promise<Pick<ContentInfo, 'digest' | 'size'>>;
    read(digest: string, options?: ReadOptions): AsyncIterable<Buffer>;
    readAll(digest: string, options?: CallOptions & { maxBytes?: number }): Promise<Buffer>;
  };
}

export interface ContainerdSourceOptions {
  /** A client on namespace k8s.io. */
  client: ContainerdStore;
  logger: Logger;
  /** Deadline of image and content lookups; default 1 s. */
  lookupTimeoutMs?: number;
  /** Deadline for reading a whole manifest; default 5 s. */
  manifestTimeoutMs?: number;
  /** Manifest media types remembered by digest (content never changes under its digest); default 1024. */
  mediaTypeCacheSize?: number;
  /**
   * containerd's content store directory (`<root>/io.containerd.content.v1.content`), when the agent can read it:
   * blobs are then streamed from their files (committed blobs never change) instead of through Content.Read,
   * which gRPC holds to a fraction of the disk's speed. Blobs missing there still go through gRPC.
   */
  contentDir?: string;
}

export class ContainerdSource implements ContentSource {
  readonly name = 'containerd';
  readonly local = true;
  readonly #client: ContainerdStore;
  readonly #logger: Logger;
  readonly #lookupTimeoutMs: number;
  readonly #manifestTimeoutMs: number;
  readonly #cacheSize: number;
  readonly #contentDir: string | undefined;
  /** digest → manifest media type, or '' for "not a manifest"; insertion order doubles as LRU order. */
  readonly #mediaTypes = new Map<string, string>();

  constructor(options: ContainerdSourceOptions) {
    this.#client = options.client;
    this.#logger = options.logger;
    this.#lookupTimeoutMs = options.lookupTimeoutMs ?? 1000;
    this.#contentDir = options.contentDir;
    this.#manifestTimeoutMs = options.manifestTimeoutMs ?? 5000;
    this.#cacheSize = options.mediaTypeCacheSize ?? 1024;
  }

  async resolveTag(registry: string, name: string, tag: string, signal: AbortSignal): Promise<ManifestDescriptor | undefined> {
    const recordName = tagKey(registry, name, tag);
    const record = await this.#lookup(() => this.#client.images.get(recordName, { timeoutMs: this.#lookupTimeoutMs, signal }));
    if (!record) return undefined;
    const { digest, size, mediaType } = record.target;
    if (!isSha256Digest(digest) || !manifestMediaTypes.has(mediaType)) {
      this.#logger.debug('image record target is not a servable manifest', { image: recordName, digest, mediaType });
      return undefined;
    }
    // The record alone is not enough: answering 200 for content the store no longer has makes containerd fail
    // the pull on the GET that follows instead of falling back (Spegel #1378).
    const info = await this.#info(digest, signal);
    if (!info) return undefined;
    if (info.size !== size) {
      this.#logger.warn('image record and content disagree on size', { image: recordName, digest, recordSize: size, contentSize: info.size });
      return undefined;
    }
    this.#remember(digest, mediaType);
    return { digest, size, mediaType };
  }

  async manifest(digest: string, signal: AbortSignal): Promise<ManifestDescriptor | undefined> {
    const info = await this.#info(digest, signal);
    if (!info || info.size > maxManifestBytes) return undefined;
    let mediaType = this.#mediaTypes.get(digest);
    if (mediaType === undefined) {
      const blob = await this.#lookup(() => this.#client.content.readAll(digest, { timeoutMs: this.#manifestTimeoutMs, signal, maxBytes: maxManifestBytes }));
      if (!blob) return undefined;
      mediaType = manifestMediaType(blob) ?? '';
    }
    this.#remember(digest, mediaType);
    return mediaType ? { digest, size: info.size, mediaType } : undefined;
  }

  readManifest(manifest: ManifestDescriptor, signal: AbortSignal): Promise<Buffer> {
    // readAll checks the digest of what it read.
    return this.#client.content.readAll(manifest.digest, { timeoutMs: this.#manifestTimeoutMs, signal, maxBytes: maxManifestBytes });
  }

  async blob(digest: string, signal: AbortSignal): Promise<BlobDescriptor | undefined> {
    const info = await this.#info(digest, signal);
    return info ? { digest, size: info.size } : undefined;
  }

  read(digest: string, range: ByteRange, signal: AbortSignal): AsyncIterable<Buffer> {
    if (this.#contentDir && isSha256Digest(digest)) return this.#readFile(this.#contentDir, digest, range, signal);
    return this.#readRpc(digest, range, signal);
  }

  #readRpc(digest: string, range: ByteRange, signal: AbortSignal): AsyncIterable<Buffer> {
    // Content.Read: size 0 means "to the end", so an empty range must never be asked for (the server does not).
    return this.#client.content.read(digest, { offset: range.offset, size: range.length, signal, timeoutMs: null });
  }

  async *#readFile(contentDir: string, digest: string, range: ByteRange, signal: AbortSignal): AsyncGenerator<Buffer> {
    let file: FileHandle;
    try {
      file = await open(join(contentDir, 'blobs', 'sha256', digest.slice('sha256:'.length)), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#logger.warn('content file unreadable; reading through containerd', { digest, err });
      yield* this.#readRpc(digest, range, signal);
      return;
    }
    // The open descriptor keeps the bytes even if containerd's GC unlinks the file meanwhile.
    try {
      const stream = file.createReadStream({ start: range.offset, end: range.offset + range.length - 1, highWaterMark: 1024 * 1024, signal, autoClose: false });
      for await (const chunk of stream) yield chunk as Buffer;
    } finally {
      await file.close();
    }
  }

  #info(digest: string, signal: AbortSignal): Promise<Pick<ContentInfo, 'digest' | 'size'> | undefined> {
    return this.#lookup(() => this.#client.content.info(digest, { timeoutMs: this.#lookupTimeoutMs, signal }));
  }

  /** NOT_FOUND is an answer (undefined); every other failure propagates for the server to count. */
  async #lookup<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  #remember(digest: string, mediaType: string): void {
    this.#mediaTypes.delete(digest);
    this.#mediaTypes.set(digest, mediaType);
    if (this.#mediaTypes.size > this.#cacheSize) {
      const oldest = this.#mediaTypes.keys().next();
      if (!oldest.done) this.#mediaTypes.delete(oldest.value);
    }
  }
}
