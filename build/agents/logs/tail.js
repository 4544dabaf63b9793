// Reading a container's log file: the last N lines without reading the whole file, then the rest of it, and
// for `follow` the bytes appended later (fs.watch wakes us; a polling backoff covers filesystems without it).
import { watch } from 'node:fs';
import { open } from 'node:fs/promises';
import { Backoff, sleep } from "../../operator/src/runtime/backoff.js";
export const readChunkBytes = 64 * 1024;
/** Byte offset at which the last `lines` lines start, found by reading backwards one chunk at a time. */
export async function tailOffset(file, size, lines, chunkBytes = readChunkBytes) {
    if (lines <= 0)
        return size;
    const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, size));
    let newlines = 0;
    let end = size;
    while (end > 0) {
        const start = Math.max(0, end - chunkBytes);
        const length = end - start;
        await readExactly(file, buffer, length, start);
        for (let i = length - 1; i >= 0; i--) {
            // The newline that ends the file closes the last line; it does not begin another one.
            if (buffer[i] !== 0x0a || start + i === size - 1)
                continue;
            if (++newlines === lines)
                return start + i + 1;
        }
        end = start;
    }
    return 0;
}
async function readExactly(file, buffer, length, position) {
    let done = 0;
    while (done < length) {
        const { bytesRead } = await file.read(buffer, done, length - done, position + done);
        if (bytesRead === 0)
            throw new Error(`log file shrank while reading it (wanted ${length} bytes at ${position})`);
        done += bytesRead;
    }
}
/** Streams the file as the options say; returns the bytes sent. */
export async function streamFile(path, options) {
    const file = await open(path, 'r');
    const waker = options.follow ? new Waker(path) : undefined;
    try {
        const { size } = await file.stat();
        let offset = options.tailLines === undefined ? 0 : await tailOffset(file, size, options.tailLines);
        let sent = 0;
        let drainedAfterEnd = false;
        const backoff = new Backoff({ initialMs: 100, maxMs: options.maxPollMs ?? 1_000, jitter: 0 });
        const limit = options.limitBytes ?? Infinity;
        for (;;) {
            const read = await pump(file, offset, limit - sent, options);
            offset += read;
            sent += read;
            if (sent >= limit || !options.follow || options.signal.aborted || drainedAfterEnd)
                return sent;
            // Seen ended: read once more, so bytes written just before the exit are not lost, then stop.
            if (options.ended()) {
                drainedAfterEnd = true;
                continue;
            }
            if (read > 0)
                backoff.reset();
            await waker.wait(backoff.next(), options.signal);
        }
    }
    finally {
        waker?.close();
        await file.close();
    }
}
/** Sends what the file holds from `offset` to its current end (at most `budget` bytes). */
async function pump(file, offset, budget, options) {
    let sent = 0;
    while (sent < budget && !options.signal.aborted) {
        const chunk = Buffer.allocUnsafe(Math.min(readChunkBytes, budget - sent));
        const { bytesRead } = await file.read(chunk, 0, chunk.length, offset + sent);
        if (bytesRead === 0)
            break;
        await options.write(chunk.subarray(0, bytesRead));
        sent += bytesRead;
    }
    return sent;
}
/** Resolves a wait early when the file changes; without inotify (or on its errors) the timeout alone paces us. */
class Waker {
    #watcher;
    #wake;
    constructor(path) {
        try {
            this.#watcher = watch(path, { persistent: false }, () => this.#wake?.());
            this.#watcher.on('error', () => this.close());
        }
        catch {
            this.#watcher = undefined;
        }
    }
    async wait(ms, signal) {
        const timeout = new AbortController();
        const woken = new Promise((resolve) => (this.#wake = resolve));
        await Promise.race([sleep(ms, AbortSignal.any([signal, timeout.signal])), woken]);
        timeout.abort();
        this.#wake = undefined;
    }
    close() {
        this.#watcher?.close();
        this.#watcher = undefined;
    }
}
