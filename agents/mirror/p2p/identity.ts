// The agent's libp2p identity: an Ed25519 key kept in <stateDir>/p2p/identity.key, so the peer ID (published in
// the Node's status.peer.id) survives restarts. A damaged file is an error, never replaced: a new key is a new peer.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { Ed25519PrivateKey, PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';

export interface Identity {
  privateKey: Ed25519PrivateKey;
  peerId: PeerId;
  /** Where the key is stored. */
  path: string;
  /** True when this call generated the key (first start on this node). */
  created: boolean;
}

export class IdentityError extends Error {
  override name = 'IdentityError';
}

export function identityPath(stateDir: string): string {
  return join(stateDir, 'p2p', 'identity.key');
}

/** Loads the key at `<stateDir>/p2p/identity.key`, or creates it (mode 0600, written atomically) when absent. */
export async function loadOrCreateIdentity(stateDir: string): Promise<Identity> {
  const path = identityPath(stateDir);
  const existing = await readKeyFile(path);
  if (existing) {
    const privateKey = decodeEd25519(existing, path);
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey), path, created: false };
  }
  const privateKey = await generateKeyPair('Ed25519');
  await writeAtomically(path, privateKeyToProtobuf(privateKey));
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), path, created: true };
}

async function readKeyFile(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new IdentityError(`cannot read libp2p identity ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function decodeEd25519(bytes: Buffer, path: string): Ed25519PrivateKey {
  let key;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch (err) {
    throw new IdentityError(`libp2p identity ${path} is not a valid private key (${(err as Error).message}); move it away only if a new peer ID is acceptable`, { cause: err });
  }
  if (key.type !== 'Ed25519') throw new IdentityError(`libp2p identity ${path} holds a ${key.type} key, expected Ed25519`);
  return key;
}

// Temp file + fsync + rename: a crash leaves either no key or the whole key, never a truncated one.
async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(temp, 0o600);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
