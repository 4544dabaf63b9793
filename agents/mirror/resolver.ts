// The seam for peer discovery. The DHT slice implements Resolver; a peer ContentSource built on it asks the
// peers it yields, in order, with the peer marker header (protocol.ts) so they answer from their own store.

/**
 * What content is looked up by: a digest (`sha256:…`, the same on every registry) or a tag key
 * (`<registry>/<repository>:<tag>`, keys.ts `tagKey`, which is also containerd's image record name).
 */
export type ContentKey = string;

export interface Resolver {
  /**
   * Base URLs (`http://10.0.0.5:5050`) of peers that advertise `key`, best first, never this node. Ends when
   * no more peers are known or `signal` aborts; the consumer stops iterating as soon as one peer served.
   */
  resolve(key: ContentKey, signal: AbortSignal): AsyncIterable<URL>;
}
