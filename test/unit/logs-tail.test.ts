import assert from 'node:assert/strict';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { appendFile, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readChunkBytes, streamFile, tailOffset } from '../../agents/logs/tail.ts';

describe('log tailing', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-tail-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const lines = (from: number, to: number): string => Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i} ${'x'.repeat((from + i) % 97)}\n`).join('');

  async function offset(content: string, n: number, chunk?: number): Promise<string> {
    const path = join(dir, `f-${Math.random()}`);
    await writeFile(path, content);
    const file = await open(path, 'r');
    try {
      const size = (await file.stat()).size;
      return content.slice(await tailOffset(file, size, n, chunk));
    } finally {
      await file.close();
    }
  }

  it('finds the last N lines of a file many read chunks long', async () => {
    const content = lines(1, 20_000);
    assert.ok(Buffer.byteLength(content) > 10 * readChunkBytes, 'the file spans many chunks');
    assert.equal(await offset(content, 3), lines(19_998, 20_000));
    // Enough lines that the answer starts several chunks before the end.
    assert.equal(await offset(content, 5_000), lines(15_001, 20_000));
  });

  it('handles newlines on chunk boundaries, a missing final newline, short files and zero', async () => {
    // 7-byte lines and 7-byte chunks: every chunk ends exactly on a newline.
    const exact = 'aaaaaa\nbbbbbb\ncccccc\n';
    assert.equal(await offset(exact, 2, 7), 'bbbbbb\ncccccc\n');
    assert.equal(await offset(exact, 1, 3), 'cccccc\n');
    assert.equal(await offset('one\ntwo\nthree', 2, 4), 'two\nthree');
    assert.equal(await offset('one\ntwo\n', 10, 4), 'one\ntwo\n');
    assert.equal(await offset('one\n\n\nfour\n', 3, 2), '\n\nfour\n');
    assert.equal(await offset('one\ntwo\n', 0), '');
    assert.equal(await offset('', 5), '');
  });

  async function collect(path: string, options: Partial<Parameters<typeof streamFile>[1]>): Promise<{ text: string; sent: number }> {
    const chunks: Buffer[] = [];
    const sent = await streamFile(path, {
      follow: false,
      ended: () => true,
      signal: new AbortController().signal,
      write: async (chunk) => {
        chunks.push(Buffer.from(chunk));
      },
      ...options,
    });
    return { text: Buffer.concat(chunks).toString(), sent };
  }

  it('streams the whole file, a tail of it, or at most limitBytes', async () => {
    const path = join(dir, 'stream.log');
    const content = lines(1, 30_000);
    await writeFile(path, content);
    const whole = await collect(path, {});
    assert.equal(whole.text, content);
    assert.equal(whole.sent, Buffer.byteLength(content));
    assert.equal((await collect(path, { tailLines: 2 })).text, lines(29_999, 30_000));
    assert.equal((await collect(path, { limitBytes: 10 })).text, content.slice(0, 10));
    assert.equal((await collect(path, { tailLines: 1, limitBytes: 4 })).text, 'line');
  });

  it('follows appended bytes until the writer has ended and the file is drained', async () => {
    const path = join(dir, 'follow.log');
    await writeFile(path, 'first\n');
    let finishing = false;
    // The container's last line lands just before its exit is observed: it must still be sent.
    const ended = (): boolean => {
      if (finishing && !existsSync(`${path}.done`)) {
        appendFileSync(path, 'last\n');
        writeFileSync(`${path}.done`, '');
      }
      return finishing;
    };
    const received: { text: string; at: number }[] = [];
    const started = performance.now();
    const done = streamFile(path, {
      follow: true,
      ended,
      signal: new AbortController().signal,
      maxPollMs: 200,
      write: async (chunk) => {
        received.push({ text: chunk.toString(), at: performance.now() - started });
      },
    });
    await new Promise((r) => setTimeout(r, 300));
    await appendFile(path, 'second\n');
    await new Promise((r) => setTimeout(r, 300));
    finishing = true;
    const sent = await done;
    assert.equal(received.map((r) => r.text).join(''), 'first\nsecond\nlast\n');
    assert.equal(sent, 'first\nsecond\nlast\n'.length);
    const second = received.find((r) => r.text.includes('second'));
    assert.ok(second && second.at >= 250 && second.at < 550, `"second" arrived as it was written, not at the end (${second?.at} ms)`);
  });

  it('stops following when the client goes away', async () => {
    const path = join(dir, 'abort.log');
    await writeFile(path, 'x\n');
    const stop = new AbortController();
    const done = streamFile(path, { follow: true, ended: () => false, signal: stop.signal, write: async () => {} });
    setTimeout(() => stop.abort(), 100);
    assert.equal(await done, 2);
  });
});
