// Mirror content keys as DHT keys: CIDv1, codec raw, sha2-256 of the key's UTF-8 text (Spegel's createCid), so a
// digest key hashes the string "sha256:…", not the blob, and a tag key hashes "<registry>/<repo>:<tag>".
import { createHash } from 'node:crypto';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { create as createDigest } from 'multiformats/hashes/digest';
import { sha256 } from 'multiformats/hashes/sha2';
import type { ContentKey } from '../resolver.ts';

export function contentKeyCid(key: ContentKey): CID {
  if (key.length === 0) throw new Error('empty content key');
  const bytes = createHash('sha256').update(key, 'utf8').digest();
  return CID.createV1(raw.code, createDigest(sha256.code, bytes));
}
