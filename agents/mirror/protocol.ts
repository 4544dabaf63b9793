// Wire constants shared by the mirror's server and its peer client (peer-source.ts, peer-auth.ts), defined once
// so both ends agree.
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

/**
 * A peer's base URL as the Resolver yields it: `http://<peerId>@10.0.0.5:5051`. The peer ID rides in the
 * userinfo because requests are signed for their target (peer-auth.ts) and the Resolver seam yields URLs only.
 */
export function peerUrl(base: string | URL, peerId: string): URL {
  const url = new URL(base);
  url.username = peerId;
  url.password = '';
  return url;
}

/** The peer ID in a `peerUrl`, or undefined when the URL carries none. */
export function peerIdOf(url: URL): string | undefined {
  return url.username === '' ? undefined : decodeURIComponent(url.username);
}

/** The URL without the peer ID, to send requests to (fetch refuses URLs with credentials). */
export function peerOrigin(url: URL): string {
  return `${url.protocol}//${url.host}`;
}
