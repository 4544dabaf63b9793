// The libp2p ConnectionGater that keeps the DHT inside the cluster: dials to, and encrypted connections with,
// peers that are not members of the PeerDirectory are refused. The Noise handshake authenticates the remote
// peer ID first, so a non-member cannot pretend to be one without its private key.
import type { ConnectionGater, PeerId } from '@libp2p/interface';
import type { Logger } from '../../../operator/src/runtime/log.ts';
import type { PeerDirectory } from './directory.ts';
import type { Direction, P2PMetrics } from './metrics.ts';

export function membershipGater(directory: PeerDirectory, metrics: P2PMetrics, logger: Logger): ConnectionGater {
  const refuse = (peerId: PeerId, direction: Direction, stage: string): boolean => {
    if (directory.has(peerId.toString())) return false;
    metrics.refusedConnections.inc({ direction });
    logger.debug('refused a peer that is not a cluster member', { peer: peerId.toString(), direction, stage });
    return true;
  };
  return {
    denyDialPeer: (peerId) => refuse(peerId, 'outbound', 'dial'),
    denyOutboundEncryptedConnection: (peerId) => refuse(peerId, 'outbound', 'encrypted'),
    denyInboundEncryptedConnection: (peerId) => refuse(peerId, 'inbound', 'encrypted'),
  };
}
