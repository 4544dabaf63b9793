// Names the mirror derives from a request: the registry a `?ns=` names, and the image-record name of a tag,
// which is also the key under which a tag is advertised to peers (Spegel's `<registry>/<repo>:<tag>`).

/** Docker Hub's other host names; containerd itself always sends `ns=docker.io`. */
const dockerHubAliases = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * A registry host as it appears in image references: a DNS name or IPv4 address with an optional port,
 * a single label with a port (`registry:5000`), `localhost`, or a bracketed IPv6 address with optional port.
 */
const registryHostPattern =
  /^(?:(?:localhost|[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)(?::[0-9]{1,5})?|[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?:[0-9]{1,5}|\[[0-9a-f:.]+\](?::[0-9]{1,5})?)$/i;

export function isRegistryHost(value: string): boolean {
  return value.length <= 253 && registryHostPattern.test(value);
}

/** `index.docker.io` → `docker.io`; everything else unchanged. */
export function canonicalRegistry(registry: string): string {
  return dockerHubAliases.has(registry.toLowerCase()) ? 'docker.io' : registry;
}

/** The repository as containerd records it: Docker Hub's single-segment names live under `library/`. */
export function canonicalRepository(registry: string, name: string): string {
  return canonicalRegistry(registry) === 'docker.io' && !name.includes('/') ? `library/${name}` : name;
}

/** `docker.io` + `busybox` + `1.36` → `docker.io/library/busybox:1.36`: CRI's image record name for the tag. */
export function tagKey(registry: string, name: string, tag: string): string {
  return `${canonicalRegistry(registry)}/${canonicalRepository(registry, name)}:${tag}`;
}
