// Wire constants shared by the mirror's server and (later) its peer client, defined once so both ends agree.
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Set on every request one mirror sends to another. A request carrying it is served from the local store
 * only and never forwarded again, so two mirrors can never bounce a request between them.
 */
export const peerMarkerHeader = 'x-shoal-mirrored';
export const peerMarkerValue = '1';

/** What every distribution API response carries (containerd and docker check it on `/v2/`). */
export const apiVersionHeader = 'docker-distribution-api-version';
export const apiVersion = 'registry/2.0';

/** Whether a request came from a peer mirror; any value counts, so a forged "0" cannot make us forward. */
export function isPeerRequest(headers: IncomingHttpHeaders): boolean {
  return headers[peerMarkerHeader] !== undefined;
}
