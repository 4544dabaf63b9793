import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { Shaper, TokenBucket } from '../../bench/shaper.ts';

const MB = 1_000_000;

/** A TCP target that answers every connection with `replyBytes` bytes after the client half-closes. */
async function startTarget(replyBytes: number): Promise<{ server: net.Server; port: number; received: () => number; sockets: Set<net.Socket> }> {
  let received = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.once('end', () => {
      const block = Buffer.alloc(64 * 1024, 7);
      let left = replyBytes;
      const write = (): void => {
        while (left > 0) {
          const part = block.subarray(0, Math.min(block.length, left));
          left -= part.length;
          if (!socket.write(part)) return void socket.once('drain', write);
        }
        socket.end();
      };
      write();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port, received: () => received, sockets };
}

/** Sends `request` bytes, half-closes, and reads the answer to its end; resolves with its size and the time taken. */
async function exchange(port: number, requestBytes = 10): Promise<{ bytes: number; ms: number }> {
  const began = performance.now();
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.end(Buffer.alloc(requestBytes, 1));
  let bytes = 0;
  for await (const chunk of socket) bytes += (chunk as Buffer).length;
  socket.destroy();
  return { bytes, ms: performance.now() - began };
}

describe('bench shaper', function () {
  this.timeout(20_000);

  let target: Awaited<ReturnType<typeof startTarget>>;
  let shaper: Shaper | undefined;

  afterEach(async () => {
    await shaper?.close();
    shaper = undefined;
    for (const socket of target?.sockets ?? []) socket.destroy();
    target?.server.close();
  });

  it('shapes downloads to the rate (never faster, within 50 % slower) and counts the bytes both ways', async () => {
    target = await startTarget(4 * MB);
    shaper = await Shaper.start({ target: { host: '127.0.0.1', port: target.port }, rateBytesPerSecond: 10 * MB });
    const { bytes, ms } = await exchange(shaper.port, 1234);
    assert.equal(bytes, 4 * MB);
    const ideal = ((4 * MB - 100_000) / (10 * MB)) * 1000; // minus the initial burst
    assert.ok(ms >= ideal, `${ms.toFixed(0)} ms for 4 MB at 10 MB/s: faster than the rate`);
    assert.ok(ms <= 400 * 1.5, `${ms.toFixed(0)} ms for 4 MB at 10 MB/s: too slow`);
    assert.deepEqual(shaper.stats(), { connections: 1, bytesToClients: 4 * MB, bytesToTarget: 1234 });
    assert.equal(target.received(), 1234);
  });

  it('shares the rate between concurrent connections', async () => {
    target = await startTarget(1.5 * MB);
    shaper = await Shaper.start({ target: { host: '127.0.0.1', port: target.port }, rateBytesPerSecond: 10 * MB });
    const began = performance.now();
    const results = await Promise.all([exchange(shaper.port), exchange(shaper.port)]);
    const ms = performance.now() - began;
    assert.deepEqual(
      results.map((r) => r.bytes),
      [1.5 * MB, 1.5 * MB],
    );
    assert.ok(ms >= ((3 * MB - 200_000) / (10 * MB)) * 1000, `${ms.toFixed(0)} ms for 2 × 1.5 MB at 10 MB/s: the connections were not sharing`);
    assert.ok(ms <= 300 * 1.5, `${ms.toFixed(0)} ms: too slow`);
    assert.equal(shaper.stats().bytesToClients, 3 * MB);
  });

  it('shapes uploads with their own bucket', async () => {
    target = await startTarget(0);
    shaper = await Shaper.start({ target: { host: '127.0.0.1', port: target.port }, rateBytesPerSecond: 10 * MB });
    const { ms } = await exchange(shaper.port, 2 * MB);
    assert.ok(ms >= ((2 * MB - 100_000) / (10 * MB)) * 1000, `${ms.toFixed(0)} ms for a 2 MB upload at 10 MB/s`);
    assert.equal(target.received(), 2 * MB);
    assert.equal(shaper.stats().bytesToTarget, 2 * MB);
  });

  it('only counts without a rate', async () => {
    target = await startTarget(20 * MB);
    shaper = await Shaper.start({ target: { host: '127.0.0.1', port: target.port } });
    const { bytes, ms } = await exchange(shaper.port);
    assert.equal(bytes, 20 * MB);
    assert.ok(ms < 1000, `${ms.toFixed(0)} ms for 20 MB unshaped`);
    assert.deepEqual(shaper.stats(), { connections: 1, bytesToClients: 20 * MB, bytesToTarget: 10 });
  });

  it('closes cleanly in the middle of a shaped transfer: both legs end and nothing listens any more', async () => {
    target = await startTarget(100 * MB);
    shaper = await Shaper.start({ target: { host: '127.0.0.1', port: target.port }, rateBytesPerSecond: 1 * MB });
    const client = net.connect({ port: shaper.port, host: '127.0.0.1', allowHalfOpen: true });
    client.on('error', () => undefined);
    client.end('go');
    let bytes = 0;
    client.on('data', (chunk: Buffer) => (bytes += chunk.length));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(target.sockets.size, 1);
    const began = performance.now();
    await shaper.close();
    await shaper.close(); // idempotent
    assert.ok(performance.now() - began < 1000, 'close does not wait for the transfer');
    if (!client.destroyed) await once(client, 'close');
    while (target.sockets.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(bytes > 0 && bytes < 1 * MB, `${bytes} bytes passed before the close`);
    const refused = net.connect({ port: shaper.port, host: '127.0.0.1' });
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
  });

  it('drops the client when the target refuses the connection', async () => {
    target = await startTarget(0);
    const port = target.port;
    target.server.close();
    await once(target.server, 'close');
    shaper = await Shaper.start({ target: { host: '127.0.0.1', port }, rateBytesPerSecond: 1 * MB });
    const { bytes } = await exchange(shaper.port).catch(() => ({ bytes: 0 }));
    assert.equal(bytes, 0);
    assert.equal(shaper.stats().connections, 1);
  });

  it('token bucket: admits the burst at once, then the rate', async () => {
    const bucket = new TokenBucket(1 * MB, 100_000);
    const began = performance.now();
    await bucket.take(100_000);
    assert.ok(performance.now() - began < 20);
    await bucket.take(100_000);
    const ms = performance.now() - began;
    assert.ok(ms >= 95 && ms < 200, `${ms.toFixed(0)} ms for 100 kB over the burst at 1 MB/s`);
    assert.throws(() => new TokenBucket(0, 1), /rate/);
  });
});
