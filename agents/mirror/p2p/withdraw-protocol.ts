// /shoal/kad-withdraw/1.0.0: tells peers to drop this node's provider records for some keys at once. kad-dht has
// no "unprovide" (cancelReprovide only removes our own local record), so without it a withdrawn key would keep
// resolving to us on other peers until the record expires. The sender is the peer Noise authenticated, so a
// node can only withdraw its own records.
import type { Connection, PeerId, Stream } from '@libp2p/interface';
import { CID } from 'multiformats/cid';

export const withdrawProtocol = '/shoal/kad-withdraw/1.0.0';

/** A notice larger than this is refused (about 15 000 keys); senders split their keys into batches. */
export const maxNoticeBytes = 1024 * 1024;
/** Keys per notice sent: a CID string is ~60 bytes of JSON, so a batch stays far below maxNoticeBytes. */
export const keysPerNotice = 4000;

const ack = new Uint8Array([0x6f, 0x6b]); // "ok"

export function encodeNotice(cids: readonly CID[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ keys: cids.map((cid) => cid.toString()) }));
}

export function decodeNotice(bytes: Uint8Array): CID[] {
  const parsed: unknown = JSON.parse(new TextDecoder().decode(bytes));
  const keys = typeof parsed === 'object' && parsed !== null ? (parsed as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || !keys.every((k): k is string => typeof k === 'string')) throw new Error('withdraw notice: expected {"keys": [string…]}');
  return keys.map((key) => CID.parse(key));
}

/** Reads the stream's remaining bytes (until the remote closes its write end), refusing more than `limit`. */
async function readAll(stream: Stream, limit: number, signal: AbortSignal): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const onAbort = (): void => stream.abort(new Error('withdraw notice timed out'));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream) {
      const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray();
      total += bytes.byteLength;
      if (total > limit) throw new Error(`withdraw notice larger than ${limit} bytes`);
      parts.push(bytes);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

async function write(stream: Stream, bytes: Uint8Array, signal: AbortSignal): Promise<void> {
  if (!stream.send(bytes)) await stream.onDrain({ signal });
  await stream.close({ signal });
}

/** What sending needs from libp2p (Libp2p satisfies it). */
export interface StreamDialer {
  dialProtocol(peer: PeerId, protocols: string, options: { signal: AbortSignal }): Promise<Stream>;
}

/** Sends one notice and waits for the peer's acknowledgement (its records are gone when this resolves). */
export async function sendNotice(dialer: StreamDialer, peer: PeerId, cids: readonly CID[], signal: AbortSignal): Promise<void> {
  const stream = await dialer.dialProtocol(peer, withdrawProtocol, { signal });
  try {
    await write(stream, encodeNotice(cids), signal);
    const reply = await readAll(stream, 16, signal);
    if (reply.byteLength !== ack.byteLength || reply.some((b, i) => b !== ack[i])) throw new Error('withdraw notice: peer did not acknowledge');
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)));
    throw err;
  }
}

/** The stream handler for incoming notices: `drop(from, cids)` removes the sender's records, then we acknowledge. */
export function noticeHandler(
  drop: (from: PeerId, cids: CID[]) => Promise<void>,
  onError: (from: PeerId, err: unknown) => void,
  timeoutMs = 10_000,
): (stream: Stream, connection: Connection) => Promise<void> {
  return async (stream, connection) => {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const cids = decodeNotice(await readAll(stream, maxNoticeBytes, signal));
      await drop(connection.remotePeer, cids);
      await write(stream, ack, signal);
    } catch (err) {
      onError(connection.remotePeer, err);
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    }
  };
}
