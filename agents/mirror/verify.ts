// Checks bytes against their expected length (and digest) while they stream, holding back the latest chunk
// until the check has passed: a consumer may receive a truncated blob and an error, but never a complete
// blob with the wrong content. For bytes fetched from peers, and for what the server streams from disk.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface Expected {
  /** `sha256:<hex>` or `sha512:<hex>`; omit for a length-only check (a byte range cannot be hashed against the blob). */
  digest?: string;
  size: number;
}

export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
}

const digestPattern = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** The check itself, fed chunk by chunk; the Transform and the generator below are thin adapters over it. */
export class StreamCheck {
  readonly #size: number;
  readonly #digest: string | undefined;
  readonly #hash: Hash | undefined;
  #seen = 0;
  #held: Buffer | undefined;
  #verified = false;

  constructor(expected: Expected) {
    if (!Number.isSafeInteger(expected.size) || expected.size < 0) throw new TypeError(`invalid expected size ${expected.size}`);
    if (expected.digest !== undefined && !digestPattern.test(expected.digest)) throw new TypeError(`invalid expected digest ${JSON.stringify(expected.digest)}`);
    this.#size = expected.size;
    this.#digest = expected.digest;
    this.#hash = expected.digest === undefined ? undefined : createHash(expected.digest.slice(0, expected.digest.indexOf(':')));
  }

  /** Takes a chunk and returns what may be released now; throws IntegrityError as soon as there are too many bytes. */
  push(chunk: Uint8Array): Buffer[] {
    if (chunk.length === 0) return [];
    this.#seen += chunk.length;
    if (this.#seen > this.#size) {
      this.#held = undefined;
      throw new IntegrityError(`stream longer than the expected ${this.#size} bytes`);
    }
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.#hash?.update(buffer);
    const out = this.#held ? [this.#held] : [];
    this.#held = buffer;
    // The expected length is reached: verify now rather than wait for the source to end.
    if (this.#seen === this.#size) out.push(...this.finish());
    return out;
  }

  /** Call when the source ended: returns the held chunk if length and digest match, else throws IntegrityError. */
  finish(): Buffer[] {
    if (this.#verified) return [];
    if (this.#seen !== this.#size) {
      this.#held = undefined;
      throw new IntegrityError(`stream ended after ${this.#seen} of ${this.#size} bytes`);
    }
    if (this.#hash && this.#digest !== undefined) {
      const actual = `${this.#digest.slice(0, this.#digest.indexOf(':'))}:${this.#hash.digest('hex')}`;
      if (actual !== this.#digest) {
        this.#held = undefined;
        throw new IntegrityError(`digest mismatch: expected ${this.#digest}, got ${actual}`);
      }
    }
    this.#verified = true;
    const held = this.#held;
    this.#held = undefined;
    return held ? [held] : [];
  }
}

/** A Transform for stream pipelines: errors (IntegrityError) instead of passing on the last chunk of a bad stream. */
export function verifyingTransform(expected: Expected): Transform {
  const check = new StreamCheck(expected);
  return new Transform({
    transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback) {
      try {
        for (const part of check.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) this.push(part);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        for (const part of check.finish()) this.push(part);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}

/** The same for async iterables; breaking out of the loop (or a failed check) also ends `source`. */
export async function* verifyChunks(source: AsyncIterable<Uint8Array>, expected: Expected): AsyncGenerator<Buffer> {
  const check = new StreamCheck(expected);
  for await (const chunk of source) yield* check.push(chunk);
  yield* check.finish();
}
