import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { PeerAuthenticator, PeerSigner, signedPayload } from '../../agents/mirror/peer-auth.ts';

describe('mirror peer auth', () => {
  let alice: PeerSigner;
  let bob: PeerSigner;
  let mallory: PeerSigner;
  let now: number;
  let members: Set<string>;
  let auth: PeerAuthenticator;
  const target = '/v2/shoal/peer/blobs/sha256:' + 'a'.repeat(64) + '?ns=docker.io';

  before(async () => {
    alice = new PeerSigner(await generateKeyPair('Ed25519'));
    bob = new PeerSigner(await generateKeyPair('Ed25519'));
    mallory = new PeerSigner(await generateKeyPair('Ed25519'));
  });

  beforeEach(() => {
    now = 1_700_000_000_000;
    members = new Set([alice.peerId, bob.peerId]);
    auth = new PeerAuthenticator({ selfPeerId: bob.peerId, isMember: (id) => members.has(id), now: () => now });
  });

  it('accepts a member request signed for this node and names the peer', async () => {
    const header = await alice.authorization('GET', target, bob.peerId, now);
    assert.match(header, /^ShoalPeer id=12D3KooW\w+,to=12D3KooW\w+,ts=1700000000000,sig=[\w-]+$/);
    assert.deepEqual(await auth.authenticate('GET', target, header), { ok: true, peerId: alice.peerId });
    // Within the allowed skew both ways.
    assert.equal((await auth.authenticate('GET', target, await alice.authorization('GET', target, bob.peerId, now - 29_000))).ok, true);
    assert.equal((await auth.authenticate('GET', target, await alice.authorization('GET', target, bob.peerId, now + 29_000))).ok, true);
  });

  const refusal = async (method: string, path: string, header: string | undefined): Promise<string> => {
    const result = await auth.authenticate(method, path, header);
    return result.ok ? 'ok' : `${result.status} ${result.reason}`;
  };

  it('refuses missing and malformed headers with 401', async () => {
    assert.equal(await refusal('GET', target, undefined), '401 missing');
    assert.equal(await refusal('GET', target, ''), '401 missing');
    assert.equal(await refusal('GET', target, 'Basic YWxpY2U6c2VjcmV0'), '401 malformed');
    assert.equal(await refusal('GET', target, `ShoalPeer id=${alice.peerId},ts=${now},sig=AAAA`), '401 malformed');
    // A syntactically fine ID that is no peer ID.
    assert.equal(await refusal('GET', target, `ShoalPeer id=12345,to=${bob.peerId},ts=${now},sig=AAAA`), '401 malformed');
  });

  it('refuses tampered requests: method, target, timestamp, signature, swapped id', async () => {
    const header = await alice.authorization('GET', target, bob.peerId, now);
    assert.equal(await refusal('HEAD', target, header), '401 bad-signature');
    assert.equal(await refusal('GET', target.replace('docker.io', 'evil.io'), header), '401 bad-signature');
    assert.equal(await refusal('GET', target, header.replace(`ts=${now}`, `ts=${now + 1}`)), '401 bad-signature');
    const sig = header.slice(header.indexOf('sig=') + 4);
    const flipped = Buffer.from(sig, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    assert.equal(await refusal('GET', target, header.replace(sig, flipped.toString('base64url'))), '401 bad-signature');
    assert.equal(await refusal('GET', target, header.replace(sig, sig.slice(0, 20))), '401 bad-signature');
    // Mallory (a member) replays Alice's signature under her own ID.
    members.add(mallory.peerId);
    assert.equal(await refusal('GET', target, header.replace(alice.peerId, mallory.peerId)), '401 bad-signature');
  });

  it('refuses a stale or future timestamp, and a request signed for another node', async () => {
    assert.equal(await refusal('GET', target, await alice.authorization('GET', target, bob.peerId, now - 31_000)), '401 stale');
    assert.equal(await refusal('GET', target, await alice.authorization('GET', target, bob.peerId, now + 31_000)), '401 stale');
    assert.equal(await refusal('GET', target, await alice.authorization('GET', target, mallory.peerId, now)), '401 wrong-target');
    // Rewriting `to` breaks the signature, which covers it.
    const forMallory = await alice.authorization('GET', target, mallory.peerId, now);
    assert.equal(await refusal('GET', target, forMallory.replace(`to=${mallory.peerId}`, `to=${bob.peerId}`)), '401 bad-signature');
  });

  it('refuses a correctly signed request from a key that is not a cluster member with 403', async () => {
    assert.equal(await refusal('GET', target, await mallory.authorization('GET', target, bob.peerId, now)), '403 not-member');
    members.delete(alice.peerId);
    assert.equal(await refusal('GET', target, await alice.authorization('GET', target, bob.peerId, now)), '403 not-member');
  });

  it('signs exactly METHOD, target, timestamp and target peer, newline-separated', () => {
    assert.equal(Buffer.from(signedPayload('get', '/v2/', 5, 'peer')).toString(), 'GET\n/v2/\n5\npeer');
  });

  it('refuses non-Ed25519 signing keys', async () => {
    const secp = await generateKeyPair('secp256k1');
    assert.throws(() => new PeerSigner(secp), /Ed25519/);
  });
});
