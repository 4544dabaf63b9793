import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from '../../agents/mirror/upstream/spool.ts';

const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 13) % 256));

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

/** Resolves with the promise's outcome, or 'pending' if it has not settled within a few event-loop turns. */
async function settled<T>(promise: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 20))]);
}

describe('mirror upstream Spool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-spool-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lets readers tail the file as it grows and finish once complete', async () => {
    const spool = await Spool.create(join(dir, 'a.spool'), data.length);
    const readers = [0, 1, 2].map(async () => Buffer.concat(await collect(spool.read({ offset: 0, length: data.length }, AbortSignal.timeout(5000)))));
    for (let at = 0; at < data.length; at += 700) {
      await spool.append(data.subarray(at, at + 700));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(await settled(readers[0] ?? Promise.reject(new Error('no reader'))), 'pending', 'no reader may finish before complete()');
    await spool.complete();
    for (const received of await Promise.all(readers)) assert.ok(received.equals(data));
  });

  it('holds back the last byte of a range until complete, and serves ranges from the middle', async () => {
    const spool = await Spool.create(join(dir, 'b.spool'), data.length);
    const iterator = spool.read({ offset: 100, length: 50 }, AbortSignal.timeout(5000))[Symbol.asyncIterator]();
    const first = iterator.next();
    assert.equal(await settled(first), 'pending', 'nothing written yet');
    await spool.append(data.subarray(0, 1000));
    const chunk = await first;
    assert.ok(!chunk.done && chunk.value.equals(data.subarray(100, 149)), 'all but the last byte of the range');
    const second = iterator.next();
    assert.equal(await settled(second), 'pending', 'the last byte waits for completion');
    await spool.append(data.subarray(1000));
    assert.equal(await settled(second), 'pending');
    await spool.complete();
    const last = await second;
    assert.ok(!last.done && last.value.equals(data.subarray(149, 150)));
    assert.equal((await iterator.next()).done, true);
  });

  it('fails every reader and deletes the file on fail()', async () => {
    const path = join(dir, 'c.spool');
    const spool = await Spool.create(path, data.length);
    await spool.append(data.subarray(0, 10));
    const readers = [0, 1].map(async () => collect(spool.read({ offset: 0, length: data.length }, AbortSignal.timeout(5000))));
    const outcomes = Promise.allSettled(readers);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await spool.fail(new Error('digest mismatch'));
    for (const outcome of await outcomes) {
      assert.equal(outcome.status, 'rejected');
      assert.match(String(outcome.reason), /digest mismatch/);
    }
    assert.equal(existsSync(path), false);
    await assert.rejects(collect(spool.read({ offset: 0, length: 1 }, AbortSignal.timeout(5000))), /digest mismatch/);
  });

  it('ends a waiting reader when its signal aborts, without touching the others', async () => {
    const spool = await Spool.create(join(dir, 'd.spool'), data.length);
    const controller = new AbortController();
    const aborted = collect(spool.read({ offset: 0, length: data.length }, controller.signal));
    const other = collect(spool.read({ offset: 0, length: data.length }, AbortSignal.timeout(5000)));
    controller.abort(new Error('client went away'));
    await assert.rejects(aborted, /client went away/);
    await spool.append(data);
    await spool.complete();
    assert.ok(Buffer.concat(await other).equals(data));
  });

  it('refuses writes past the size, early completion and ranges outside the blob', async () => {
    const spool = await Spool.create(join(dir, 'e.spool'), 10);
    await assert.rejects(spool.append(Buffer.alloc(11)), RangeError);
    await spool.append(Buffer.alloc(5));
    await assert.rejects(spool.complete(), RangeError);
    await assert.rejects(collect(spool.read({ offset: 5, length: 6 }, AbortSignal.timeout(1000))), RangeError);
    assert.deepEqual(await collect(spool.read({ offset: 3, length: 0 }, AbortSignal.timeout(1000))), []);
    await spool.fail(new Error('test over'));
  });
});
