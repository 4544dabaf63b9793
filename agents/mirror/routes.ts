// The mirror's request grammar: `/v2/`, `/v2/<name>/manifests/<tag|digest>` and `/v2/<name>/blobs/<digest>`,
// each with an optional `?ns=<registry>`. Everything is validated here, before any lookup: names against the
// distribution spec's grammar, tags and digests against theirs, and no encoded slash, `..` or empty segment.
import { MirrorError, quote } from './errors.ts';
import { canonicalRegistry, isRegistryHost } from './keys.ts';

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string };

export type MirrorRoute =
  | { kind: 'base' }
  | { kind: 'manifest'; name: string; reference: Reference; registry: string | undefined }
  | { kind: 'blob'; name: string; digest: string; registry: string | undefined };

/** The distribution spec's repository name grammar. */
const namePattern = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const maxNameLength = 255;
const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const sha256Pattern = /^sha256:[a-f0-9]{64}$/;
/** Registered algorithms we do not store (containerd keeps sha256 only): well-formed, so "not here", not "bad". */
const otherDigestPattern = /^sha512:[a-f0-9]{128}$/;
/** Longer than any valid path (255-byte name + 71-byte digest + a query); refuse before splitting. */
const maxTargetLength = 2048;

export function isSha256Digest(value: string): boolean {
  return sha256Pattern.test(value);
}

/**
 * A digest we can serve, or a 404 for a well-formed digest of another algorithm (so containerd falls back to
 * the next host instead of failing the pull), or a 400 for anything malformed.
 */
export function parseDigest(value: string, unknownCode: 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN'): string {
  if (sha256Pattern.test(value)) return value;
  if (otherDigestPattern.test(value)) throw new MirrorError(404, unknownCode, `only sha256 content is served here, not ${quote(value, 16)}`);
  throw new MirrorError(400, 'DIGEST_INVALID', `invalid digest ${quote(value)}: expected sha256: and 64 lowercase hex digits`);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new MirrorError(400, 'NAME_INVALID', `malformed percent-encoding in ${quote(segment)}`);
  }
}

function parseRegistry(query: string): string | undefined {
  const values = new URLSearchParams(query).getAll('ns');
  if (values.length === 0) return undefined;
  const [ns] = values;
  if (values.length > 1 || ns === undefined) throw new MirrorError(400, 'NAME_INVALID', 'parameter ns given more than once');
  if (!isRegistryHost(ns)) throw new MirrorError(400, 'NAME_INVALID', `invalid ns ${quote(ns)}: expected a registry host[:port]`);
  return canonicalRegistry(ns);
}

/** Parses a request target (`req.url`). Throws MirrorError: 400 for malformed input, 404 for paths we do not serve. */
export function parseRoute(target: string): MirrorRoute {
  if (target.length > maxTargetLength) throw new MirrorError(400, 'NAME_INVALID', `request target longer than ${maxTargetLength} characters`);
  if (!target.startsWith('/')) throw new MirrorError(400, 'NAME_INVALID', 'request target must be an absolute path (origin-form)');
  const queryAt = target.indexOf('?');
  const path = queryAt < 0 ? target : target.slice(0, queryAt);
  const registry = parseRegistry(queryAt < 0 ? '' : target.slice(queryAt + 1));
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (!path.startsWith('/v2/')) throw new MirrorError(404, 'UNSUPPORTED', 'only the /v2/ distribution API is served');
  // An encoded slash would let one path segment smuggle several; a backslash is a path separator to some readers.
  if (/%2f|%5c|\\/i.test(path)) throw new MirrorError(400, 'NAME_INVALID', 'encoded slashes and backslashes are not allowed in paths');
  const segments = path.slice('/v2/'.length).split('/').map(decodeSegment);
  const reference = segments.at(-1) ?? '';
  const endpoint = segments.at(-2);
  const name = segments.slice(0, -2).join('/');
  if (segments.length < 3 || (endpoint !== 'manifests' && endpoint !== 'blobs')) {
    throw new MirrorError(404, 'UNSUPPORTED', 'only manifests and blobs are served by this mirror (no catalog, tags list or referrers)');
  }
  if (name.length > maxNameLength || !namePattern.test(name)) {
    throw new MirrorError(400, 'NAME_INVALID', `invalid repository name ${quote(name)}: see the distribution spec's name grammar`);
  }
  if (endpoint === 'blobs') return { kind: 'blob', name, digest: parseDigest(reference, 'BLOB_UNKNOWN'), registry };
  if (reference.includes(':')) return { kind: 'manifest', name, reference: { kind: 'digest', digest: parseDigest(reference, 'MANIFEST_UNKNOWN') }, registry };
  if (!tagPattern.test(reference)) throw new MirrorError(400, 'MANIFEST_INVALID', `invalid tag ${quote(reference)}: expected [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`);
  return { kind: 'manifest', name, reference: { kind: 'tag', tag: reference }, registry };
}
