import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { IdentityError, identityPath, loadOrCreateIdentity } from '../../agents/mirror/p2p/identity.ts';

describe('mirror p2p identity', () => {
  let stateDir: string;

  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'shoal-p2p-identity-'));
  });

  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('creates an Ed25519 key at <stateDir>/p2p/identity.key with mode 0600 and no temp file left', async () => {
    const identity = await loadOrCreateIdentity(stateDir);
    assert.equal(identity.created, true);
    assert.equal(identity.path, join(stateDir, 'p2p', 'identity.key'));
    assert.equal(identity.privateKey.type, 'Ed25519');
    assert.match(identity.peerId.toString(), /^12D3KooW/);
    const info = await stat(identity.path);
    assert.equal(info.mode & 0o777, 0o600);
    assert.deepEqual(await readdir(join(stateDir, 'p2p')), ['identity.key']);
    // The file is the protobuf form of the very key returned.
    const stored = privateKeyFromProtobuf(await readFile(identity.path));
    assert.ok(stored.equals(identity.privateKey));
  });

  it('loads the same key, hence the same peer ID, on the next start', async () => {
    const first = await loadOrCreateIdentity(stateDir);
    const second = await loadOrCreateIdentity(stateDir);
    assert.equal(second.created, false);
    assert.equal(second.peerId.toString(), first.peerId.toString());
    assert.ok(second.privateKey.equals(first.privateKey));
  });

  it('loads a key written by someone else (protobuf) and derives its peer ID', async () => {
    const key = await generateKeyPair('Ed25519');
    await mkdir(join(stateDir, 'p2p'));
    await writeFile(identityPath(stateDir), privateKeyToProtobuf(key));
    const identity = await loadOrCreateIdentity(stateDir);
    assert.equal(identity.created, false);
    assert.equal(identity.peerId.toString(), peerIdFromPrivateKey(key).toString());
  });

  for (const [what, content] of [
    ['garbage bytes', Buffer.from('not a key at all\n')],
    ['an empty file', Buffer.alloc(0)],
  ] as const) {
    it(`refuses ${what} and leaves the file untouched`, async () => {
      await mkdir(join(stateDir, 'p2p'));
      await writeFile(identityPath(stateDir), content);
      await assert.rejects(loadOrCreateIdentity(stateDir), (err: unknown) => err instanceof IdentityError && /not a valid private key/.test(err.message));
      assert.ok((await readFile(identityPath(stateDir))).equals(content));
    });
  }

  it('refuses a valid key of another type (secp256k1)', async () => {
    await mkdir(join(stateDir, 'p2p'));
    const bytes = privateKeyToProtobuf(await generateKeyPair('secp256k1'));
    await writeFile(identityPath(stateDir), bytes);
    await assert.rejects(loadOrCreateIdentity(stateDir), (err: unknown) => err instanceof IdentityError && /secp256k1 key, expected Ed25519/.test(err.message));
    assert.ok(Buffer.from(bytes).equals(await readFile(identityPath(stateDir))));
  });

  it('reports an unreadable path (a directory where the key should be) instead of replacing it', async () => {
    await mkdir(identityPath(stateDir), { recursive: true });
    await assert.rejects(loadOrCreateIdentity(stateDir), (err: unknown) => err instanceof IdentityError && /cannot read/.test(err.message));
  });
});
