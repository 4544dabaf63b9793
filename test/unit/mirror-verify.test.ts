import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IntegrityError, StreamCheck, verifyChunks, verifyingTransform, type Expected } from '../../agents/mirror/verify.ts';

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const blob = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7) % 251));
const expected: Expected = { digest: sha256(blob), size: blob.length };

function chunksOf(data: Buffer, size = 1000): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

async function* source(chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (const chunk of chunks) yield chunk;
}

/** Runs verifyChunks over `chunks`; returns what the consumer received and the error, if any. */
async function consume(chunks: Buffer[], want: Expected = expected): Promise<{ received: Buffer; error: unknown }> {
  const parts: Buffer[] = [];
  let error: unknown;
  try {
    for await (const chunk of verifyChunks(source(chunks), want)) parts.push(chunk);
  } catch (err) {
    error = err;
  }
  return { received: Buffer.concat(parts), error };
}

/** Runs the Transform in a pipeline over `chunks`. */
async function transform(chunks: Buffer[], want: Expected = expected): Promise<{ received: Buffer; error: unknown }> {
  const parts: Buffer[] = [];
  let error: unknown;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
  try {
    await pipeline(Readable.from(chunks), verifyingTransform(want), sink);
  } catch (err) {
    error = err;
  }
  return { received: Buffer.concat(parts), error };
}

const corruptions: [string, (chunks: Buffer[]) => Buffer[]][] = [
  ['a flipped byte in the last chunk', (c) => c.map((x, i) => (i === c.length - 1 ? Buffer.concat([x.subarray(0, 10), Buffer.from([x[10]! ^ 1]), x.subarray(11)]) : x))],
  ['a flipped byte in the first chunk', (c) => c.map((x, i) => (i === 0 ? Buffer.concat([Buffer.from([x[0]! ^ 0xff]), x.subarray(1)]) : x))],
  ['a missing last chunk', (c) => c.slice(0, -1)],
  ['a truncated last chunk', (c) => [...c.slice(0, -1), c.at(-1)!.subarray(0, 500)]],
  ['one extra byte', (c) => [...c.slice(0, -1), Buffer.concat([c.at(-1)!, Buffer.from('x')])]],
];

describe('mirror verify', () => {
  for (const [adapter, run] of [
    ['async iterable', consume],
    ['Transform', transform],
  ] as const) {
    describe(adapter, () => {
      it('passes a correct stream through unchanged', async () => {
        const { received, error } = await run(chunksOf(blob));
        assert.equal(error, undefined);
        assert.ok(received.equals(blob));
      });

      it('passes an empty blob', async () => {
        const empty = Buffer.alloc(0);
        const { received, error } = await run([], { digest: sha256(empty), size: 0 });
        assert.equal(error, undefined);
        assert.equal(received.length, 0);
      });

      it('fails on data after a complete, verified blob (having delivered only the correct bytes)', async () => {
        const { received, error } = await run([...chunksOf(blob), Buffer.from('tail')]);
        assert.ok(error instanceof IntegrityError);
        assert.ok(received.equals(blob));
      });

      for (const [what, corrupt] of corruptions) {
        it(`fails on ${what} without delivering the last chunk`, async () => {
          const chunks = corrupt(chunksOf(blob));
          const { received, error } = await run(chunks);
          assert.ok(error instanceof IntegrityError, `expected IntegrityError, got ${String(error)}`);
          // Never a complete blob: at most everything before the final chunk the source sent.
          assert.ok(received.length < blob.length, `received ${received.length} of ${blob.length} bytes`);
          const lastChunk = chunks.at(-1)!;
          assert.ok(received.length <= chunks.reduce((n, c) => n + c.length, 0) - lastChunk.length);
        });
      }
    });
  }

  it('fails a single-chunk corrupt blob having delivered nothing', async () => {
    const bad = Buffer.from(blob);
    bad[5] = bad[5]! ^ 1;
    const { received, error } = await consume([bad]);
    assert.ok(error instanceof IntegrityError);
    assert.equal(received.length, 0);
  });

  it('checks length only when no digest is given (ranges)', async () => {
    assert.equal((await consume(chunksOf(blob.subarray(0, 3000)), { size: 3000 })).error, undefined);
    assert.ok((await consume(chunksOf(blob.subarray(0, 2999)), { size: 3000 })).error instanceof IntegrityError);
  });

  it('releases the last chunk as soon as the expected length is reached and verified', async () => {
    let release: () => void = () => undefined;
    const hang = new Promise<void>((resolve) => (release = resolve));
    async function* slowEnd(): AsyncGenerator<Buffer> {
      yield* chunksOf(blob);
      await hang; // a peer that keeps the connection open after the last byte
    }
    const received: Buffer[] = [];
    const iterator = verifyChunks(slowEnd(), expected);
    while (Buffer.concat(received).length < blob.length) {
      const next = await iterator.next();
      assert.ok(!next.done);
      received.push(next.value);
    }
    assert.ok(Buffer.concat(received).equals(blob));
    release();
    assert.deepEqual(await iterator.next(), { done: true, value: undefined });
  });

  it('stops the source when the consumer stops early or the check fails', async () => {
    let finished = 0;
    async function* tracked(chunks: Buffer[]): AsyncGenerator<Buffer> {
      try {
        yield* chunks;
      } finally {
        finished++;
      }
    }
    for await (const _ of verifyChunks(tracked(chunksOf(blob)), expected)) break;
    await assert.rejects(async () => {
      for await (const _ of verifyChunks(tracked([...chunksOf(blob), Buffer.from('x')]), expected));
    }, IntegrityError);
    assert.equal(finished, 2);
  });

  it('refuses a malformed expectation', () => {
    assert.throws(() => new StreamCheck({ digest: 'md5:abc', size: 1 }), TypeError);
    assert.throws(() => new StreamCheck({ size: -1 }), TypeError);
  });
});
