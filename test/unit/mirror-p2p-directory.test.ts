import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { PeerDirectory, type DirectoryChange, type Member } from '../../agents/mirror/p2p/directory.ts';
import { followNodes, memberFromNode } from '../../agents/mirror/p2p/node-members.ts';
import type { Node } from '../../operator/src/api/generated/types.ts';
import type { EventHandler } from '../../operator/src/runtime/informer.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';

const logger = createLogger({ component: 'test' }, { level: 'error' });
const newPeerId = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();

function node(name: string, status: Node['status']): Node {
  return { apiVersion: 'shoal.dev/v1alpha1', kind: 'Node', metadata: { name }, spec: {} as Node['spec'], ...(status ? { status } : {}) };
}

function readyCondition(status: 'True' | 'False' | 'Unknown'): NonNullable<NonNullable<Node['status']>['conditions']>[number] {
  return { type: 'Ready', status, reason: 'Test', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' };
}

describe('mirror p2p PeerDirectory', () => {
  let a: string;
  let b: string;
  const member = (nodeName: string, peerId: string, extra: Partial<Member> = {}): Member => ({ nodeName, peerId, addresses: ['/ip4/10.0.0.1/tcp/5052'], ready: true, ...extra });

  before(async () => {
    a = await newPeerId();
    b = await newPeerId();
  });

  it('reports added, updated and removed peers on replace/set/remove, and nothing when nothing changed', () => {
    const directory = new PeerDirectory();
    const changes: DirectoryChange[] = [];
    directory.onChange((change) => changes.push(change));
    directory.replace([member('n1', a), member('n2', b)]);
    assert.deepEqual(changes.pop(), { added: [a, b], removed: [], updated: [] });
    directory.replace([member('n1', a), member('n2', b)]);
    assert.equal(changes.length, 0);
    directory.set(member('n1', a, { ready: false }));
    assert.deepEqual(changes.pop(), { added: [], removed: [], updated: [a] });
    assert.equal(directory.get(a)?.ready, false);
    directory.replace([member('n1', a, { ready: false })]);
    assert.deepEqual(changes.pop(), { added: [], removed: [b], updated: [] });
    assert.ok(!directory.has(b));
    directory.remove('n1');
    assert.deepEqual(changes.pop(), { added: [], removed: [a], updated: [] });
    assert.equal(directory.size, 0);
  });

  it('drops the old peer ID when a Node publishes a new one (a new key is a new peer)', () => {
    const directory = new PeerDirectory();
    directory.set(member('n1', a));
    const changes: DirectoryChange[] = [];
    directory.onChange((change) => changes.push(change));
    directory.set(member('n1', b));
    assert.deepEqual(changes.pop(), { added: [b], removed: [a], updated: [] });
    assert.deepEqual(directory.members().map((m) => m.peerId), [b]);
  });

  it('gives a peer ID claimed by two Nodes to the later claim only', () => {
    const directory = new PeerDirectory();
    directory.set(member('n1', a));
    directory.set(member('n2', a));
    assert.equal(directory.get(a)?.nodeName, 'n2');
    directory.remove('n1');
    assert.ok(directory.has(a), 'removing the earlier claimant does not remove the peer');
    directory.remove('n2');
    assert.ok(!directory.has(a));
  });

  it('refuses an invalid peer ID', () => {
    assert.throws(() => new PeerDirectory().set(member('n1', 'not-a-peer-id')), /invalid peer ID/);
  });
});

describe('mirror p2p Node → member', () => {
  let peerId: string;

  before(async () => {
    peerId = await newPeerId();
  });

  it('takes the peer ID, addresses, mirror endpoint and readiness from the Node status', () => {
    const m = memberFromNode(node('n1', { peer: { id: peerId, addresses: ['/ip4/10.0.0.5/tcp/5052'] }, mirror: { endpoint: 'http://10.0.0.5:5051' }, conditions: [readyCondition('True')] }));
    assert.deepEqual(m, { nodeName: 'n1', peerId, addresses: ['/ip4/10.0.0.5/tcp/5052'], ready: true, endpoint: new URL('http://10.0.0.5:5051') });
  });

  it('counts only Ready=False as not ready', () => {
    const ready = (conditions: NonNullable<Node['status']>['conditions']): boolean | undefined => memberFromNode(node('n1', { peer: { id: peerId }, ...(conditions ? { conditions } : {}) }))?.ready;
    assert.equal(ready([readyCondition('False')]), false);
    assert.equal(ready([readyCondition('Unknown')]), true);
    assert.equal(ready(undefined), true);
  });

  it('is no member without a valid peer ID, and has no endpoint when it is not a URL', () => {
    assert.equal(memberFromNode(node('n1', {})), undefined);
    assert.equal(memberFromNode(node('n1', { peer: { id: 'garbage' } }), logger), undefined);
    assert.equal(memberFromNode(node('n1', { peer: { id: peerId }, mirror: { endpoint: 'not a url' } }), logger)?.endpoint, undefined);
  });

  it('followNodes keeps a directory in step with informer events', () => {
    let handler: EventHandler<Node> | undefined;
    const directory = new PeerDirectory();
    followNodes({ addHandler: (h) => (handler = h) }, directory, logger);
    assert.ok(handler?.add && handler.update && handler.delete);
    const n1 = node('n1', { peer: { id: peerId } });
    handler.add(n1);
    assert.ok(directory.has(peerId));
    handler.update(n1, node('n1', { peer: { id: peerId }, conditions: [readyCondition('False')] }));
    assert.equal(directory.get(peerId)?.ready, false);
    handler.update(n1, node('n1', {}));
    assert.ok(!directory.has(peerId), 'a Node that lost its peer ID is no longer a member');
    handler.add(n1);
    handler.delete(n1);
    assert.equal(directory.size, 0);
  });
});
