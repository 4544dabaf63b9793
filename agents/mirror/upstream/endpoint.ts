// Where the mirror reaches a registry: docker.io's API host, and the scheme. Plain HTTP only for loopback
// hosts and hosts the operator listed as insecure; HTTPS for everything else, redirect targets included.
import { canonicalRegistry } from '../keys.ts';

/** Docker Hub's registry API lives on another host than its image-reference name. */
const dockerHubApiHost = 'registry-1.docker.io';

/** `host`, `host:port`, `[v6]` or `[v6]:port` → the bare host name (lowercase, no brackets). */
export function hostName(host: string): string {
  const lower = host.toLowerCase();
  if (lower.startsWith('[')) {
    const close = lower.indexOf(']');
    return close < 0 ? lower : lower.slice(1, close);
  }
  const colon = lower.indexOf(':');
  // More than one colon without brackets is a bare IPv6 address, not host:port.
  return colon >= 0 && lower.indexOf(':', colon + 1) < 0 ? lower.slice(0, colon) : lower;
}

/** localhost, 127.0.0.0/8 and ::1: traffic that never leaves the machine. */
export function isLoopbackHost(host: string): boolean {
  const name = hostName(host);
  if (name === 'localhost' || name === '::1' || name === '0:0:0:0:0:0:0:1') return true;
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  return octets !== null && octets.slice(1).every((octet) => Number(octet) <= 255);
}

/** Whether `host` (`name[:port]`) may be spoken to over plain HTTP: loopback, or listed with or without its port. */
export function plainHttpAllowed(host: string, insecure: ReadonlySet<string>): boolean {
  const lower = host.toLowerCase();
  return isLoopbackHost(lower) || insecure.has(lower) || insecure.has(hostName(lower));
}

/** The API host of a registry as image references name it: docker.io and its aliases → registry-1.docker.io. */
export function apiHost(registry: string): string {
  const canonical = canonicalRegistry(registry.toLowerCase());
  return canonical === 'docker.io' ? dockerHubApiHost : canonical;
}

/** `http(s)://<api host>` for `registry`. */
export function registryOrigin(registry: string, insecure: ReadonlySet<string>): string {
  const host = apiHost(registry);
  return `${plainHttpAllowed(host, insecure) ? 'http' : 'https'}://${host}`;
}

/** Whether following a redirect (or a token realm) to `url` keeps the scheme rules: https, or http where allowed. */
export function schemeAllowed(url: URL, insecure: ReadonlySet<string>): boolean {
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && plainHttpAllowed(url.host, insecure);
}
