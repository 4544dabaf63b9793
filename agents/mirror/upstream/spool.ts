// A blob being written to a file while any number of readers tail it. One writer appends; readers wait on the
// writer's wake-ups (no polling) until the bytes they want are on disk. Each reader holds back the last byte of
// its range until the spool is complete, so no reader finishes on bytes a later digest check could reject.
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { ByteRange } from '../source.ts';

export type SpoolState = 'writing' | 'complete' | 'failed';

/** Bytes read from the file per chunk handed to a reader (containerd streams ≤ 1 MiB chunks too). */
const readChunkBytes = 1024 * 1024;

export class Spool {
  readonly path: string;
  /** The whole blob's size, known before the first byte. */
  readonly size: number;
  #handle: FileHandle | undefined;
  #written = 0;
  #state: SpoolState = 'writing';
  #error: Error | undefined;
  #removed = false;
  #failing = false;
  readonly #waiters = new Set<() => void>();

  private constructor(path: string, size: number, handle: FileHandle) {
    this.path = path;
    this.size = size;
    this.#handle = handle;
  }

  /** Creates the file (it must not exist). */
  static async create(path: string, size: number): Promise<Spool> {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid spool size ${size}`);
    return new Spool(path, size, await open(path, 'wx', 0o600));
  }

  get written(): number {
    return this.#written;
  }

  get state(): SpoolState {
    return this.#state;
  }

  /** Appends `chunk` at the end and wakes the readers. */
  async append(chunk: Uint8Array): Promise<void> {
    const handle = this.#writable();
    if (this.#written + chunk.length > this.size) throw new RangeError(`spool ${this.path}: ${this.#written + chunk.length} bytes exceed the size ${this.size}`);
    for (let done = 0; done < chunk.length; ) {
      const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, this.#written + done);
      done += bytesWritten;
    }
    this.#written += chunk.length;
    this.#wake();
  }

  /** Marks the content whole (and verified by the caller); readers may now deliver their last bytes. */
  async complete(): Promise<void> {
    const handle = this.#writable();
    if (this.#written !== this.size) throw new RangeError(`spool ${this.path}: complete after ${this.#written} of ${this.size} bytes`);
    this.#handle = undefined;
    await handle.close();
    this.#state = 'complete';
    this.#wake();
  }

  /** Deletes the file, then fails every reader with `error`. Idempotent; a no-op once complete. */
  async fail(error: Error): Promise<void> {
    if (this.#state !== 'writing' || this.#failing) return;
    this.#failing = true;
    const handle = this.#handle;
    this.#handle = undefined;
    // Readers see the failure only once the file is gone, so that no trace of a failed blob outlives them.
    try {
      await handle?.close().catch(() => undefined);
      await this.remove();
    } finally {
      this.#state = 'failed';
      this.#error = error;
      this.#wake();
    }
  }

  /** Deletes the file; readers that already opened it keep reading their descriptor. */
  async remove(): Promise<void> {
    this.#removed = true;
    await rm(this.path, { force: true });
  }

  /** Streams `range` of the blob as it arrives; throws the writer's error if the fetch fails first. */
  async *read(range: ByteRange, signal: AbortSignal): AsyncGenerator<Buffer> {
    const end = range.offset + range.length;
    if (!Number.isSafeInteger(range.offset) || !Number.isSafeInteger(range.length) || range.offset < 0 || range.length < 0 || end > this.size) {
      throw new RangeError(`range ${range.offset}+${range.length} outside a blob of ${this.size} bytes`);
    }
    this.#throwIfFailed();
    if (range.length === 0) return;
    if (this.#removed) throw new Error(`spool ${this.path} expired before it was read`);
    const handle = await open(this.path, 'r');
    try {
      let position = range.offset;
      while (position < end) {
        signal.throwIfAborted();
        this.#throwIfFailed();
        const available = this.#state === 'complete' ? end : Math.min(this.#written, end - 1);
        if (available <= position) {
          await this.#changed(signal);
          continue;
        }
        const buffer = Buffer.allocUnsafe(Math.min(available - position, readChunkBytes));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) throw new Error(`spool ${this.path} is shorter than the ${available} bytes written`);
        position += bytesRead;
        yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }

  #writable(): FileHandle {
    if (this.#state !== 'writing' || this.#handle === undefined) throw new Error(`spool ${this.path} is ${this.#state}`);
    return this.#handle;
  }

  #throwIfFailed(): void {
    if (this.#state === 'failed') throw this.#error ?? new Error(`spool ${this.path} failed`);
  }

  #wake(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves at the next append, completion or failure; rejects when `signal` aborts. */
  #changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.#waiters.delete(wake);
        reject(signal.reason as Error);
      };
      this.#waiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
