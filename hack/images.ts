// OCI test images built from Debian's busybox-static, without docker: the tar (ustar), the gzip
// layers, the image config and the manifest are all written here, deterministically (fixed mtimes,
// owners and order, a seeded "random" blob), so the same options give the same digests on every run.
// pushImage() speaks the OCI distribution API with fetch; seedRegistry() pushes the standard images.
import { createCipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { createGzip, constants as zlibConstants } from 'node:zlib';

export const mediaTypes = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** Where the static busybox comes from (Debian package busybox-static). */
export const busyboxPath = '/bin/busybox';

/** Applets linked to /bin/busybox in the base layer. */
export const busyboxApplets = ['sh', 'echo', 'sleep', 'cat', 'ls', 'true', 'false', 'env', 'wget'] as const;

/** Every file in the images has this mtime (2024-01-01T00:00:00Z). */
const fixedMtime = 1704067200;
const fixedCreated = '2024-01-01T00:00:00Z';

export const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface ImageLayer extends Descriptor {
  /** The gzip-compressed tar, as stored in the registry. */
  data: Buffer;
  /** sha256 of the uncompressed tar (what the config's rootfs.diff_ids lists). */
  diffId: string;
  uncompressedSize: number;
}

export interface OciImageConfig {
  architecture: string;
  os: 'linux';
  created: string;
  config: { Env: string[]; Cmd: string[]; Labels?: Record<string, string>; WorkingDir?: string };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history: { created: string; created_by: string; comment?: string }[];
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType: typeof mediaTypes.manifest;
  config: Descriptor;
  layers: Descriptor[];
}

export interface OciImage {
  manifest: OciManifest;
  /** The exact bytes pushed (the digest is over these). */
  manifestBytes: Buffer;
  manifestDigest: string;
  config: OciImageConfig;
  configBytes: Buffer;
  configDigest: string;
  layers: ImageLayer[];
}

export interface BuildImageOptions {
  /**
   * Optional name baked into the config as label `dev.shoal.test-image` (and the seed of the random
   * blob), so images built with different tags differ; images built with the same options are identical.
   */
  tag?: string;
  /** Files for layer 2: absolute or relative paths inside the image → contents (mode 0644; parent dirs 0755). */
  extraFiles?: Record<string, string | Buffer>;
  /** Adds `/data/random.bin` of this many incompressible (seeded, reproducible) bytes to layer 2. */
  extraLayerSizeBytes?: number;
  /** Image `Cmd`; default `["sh"]`. No Entrypoint. */
  cmd?: string[];
  /** Extra `Env` entries after `PATH=...`. */
  env?: string[];
  labels?: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// ustar

interface TarEntry {
  path: string; // relative, no leading or trailing slash
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  /** File contents: buffers, or a generator for large synthetic files. */
  size?: number;
  chunks?: () => Iterable<Buffer>;
  linkTarget?: string;
}

function octal(value: number, width: number): string {
  const digits = value.toString(8);
  if (digits.length > width - 1) throw new Error(`tar: value ${value} does not fit ${width - 1} octal digits`);
  return digits.padStart(width - 1, '0') + '\0';
}

function splitName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { name, prefix };
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

function tarHeader(entry: TarEntry): Buffer {
  const header = Buffer.alloc(512);
  const path = entry.type === 'dir' ? `${entry.path}/` : entry.path;
  const { name, prefix } = splitName(path);
  const size = entry.type === 'file' ? (entry.size ?? 0) : 0;
  const put = (offset: number, width: number, text: string): void => {
    if (Buffer.byteLength(text) > width) throw new Error(`tar: field too long: ${text}`);
    header.write(text, offset, width, 'utf8');
  };
  put(0, 100, name);
  put(100, 8, octal(entry.mode, 8));
  put(108, 8, octal(0, 8)); // uid
  put(116, 8, octal(0, 8)); // gid
  put(124, 12, octal(size, 12));
  put(136, 12, octal(fixedMtime, 12));
  put(148, 8, '        '); // checksum placeholder: eight spaces
  put(156, 1, entry.type === 'file' ? '0' : entry.type === 'dir' ? '5' : '2');
  if (entry.linkTarget) put(157, 100, entry.linkTarget);
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  put(265, 32, 'root');
  put(297, 32, 'root');
  put(329, 8, octal(0, 8));
  put(337, 8, octal(0, 8));
  put(345, 155, prefix);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return header;
}

function normalisePath(path: string): string {
  const clean = posix.normalize(`/${path}`).replace(/^\/+/, '').replace(/\/+$/, '');
  if (!clean || clean.split('/').includes('..')) throw new Error(`invalid path in image: ${JSON.stringify(path)}`);
  return clean;
}

/** Adds the entry and any missing parent directories (0755); later entries win. */
function addEntry(entries: Map<string, TarEntry>, entry: TarEntry): void {
  const parts = entry.path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join('/');
    if (!entries.has(dir)) entries.set(dir, { path: dir, type: 'dir', mode: 0o755 });
  }
  entries.set(entry.path, entry);
}

/** The tar stream of `entries` (sorted by path, so parents come first), as chunks. */
function* tarChunks(entries: Map<string, TarEntry>): Generator<Buffer> {
  const sorted = [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const entry of sorted) {
    yield tarHeader(entry);
    if (entry.type !== 'file') continue;
    let written = 0;
    for (const chunk of entry.chunks?.() ?? []) {
      written += chunk.length;
      yield chunk;
    }
    if (written !== (entry.size ?? 0)) throw new Error(`tar: ${entry.path}: wrote ${written} bytes, header says ${entry.size}`);
    const pad = (512 - (written % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(1024); // two zero blocks end the archive
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Gzips the tar stream, hashing both sides. Deterministic: Node's zlib writes mtime 0 and a fixed OS byte. */
async function buildLayer(entries: Map<string, TarEntry>, level: number): Promise<ImageLayer> {
  const gzip = createGzip({ level, chunkSize: 1024 * 1024 });
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const done = new Promise<void>((resolveGzip, rejectGzip) => {
    gzip.once('end', resolveGzip);
    gzip.once('error', rejectGzip);
  });
  const diff = createHash('sha256');
  let uncompressedSize = 0;
  for (const chunk of tarChunks(entries)) {
    diff.update(chunk);
    uncompressedSize += chunk.length;
    if (!gzip.write(chunk)) await new Promise<void>((resolveDrain) => gzip.once('drain', resolveDrain));
  }
  gzip.end();
  await done;
  const data = Buffer.concat(out);
  return { mediaType: mediaTypes.layerGzip, digest: sha256(data), size: data.length, data, diffId: `sha256:${diff.digest('hex')}`, uncompressedSize };
}

/** `size` reproducible, incompressible bytes (AES-128-CTR keystream keyed by `seed`), in 4 MiB chunks. */
function* randomChunks(seed: string, size: number): Generator<Buffer> {
  const key = createHash('sha256').update(`shoal-test-blob:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const chunkSize = 4 * 1024 * 1024;
  for (let left = size; left > 0; left -= chunkSize) yield cipher.update(Buffer.alloc(Math.min(chunkSize, left)));
}

function ociArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

let busyboxCache: Buffer | undefined;

/** Builds a busybox image (see BuildImageOptions). Same options → same bytes and digests. */
export async function buildBusyboxImage(options: BuildImageOptions = {}): Promise<OciImage> {
  busyboxCache ??= readFileSync(busyboxPath);
  const busybox = busyboxCache;

  const base = new Map<string, TarEntry>();
  for (const dir of ['bin', 'dev', 'etc', 'proc', 'sys', 'usr/bin']) addEntry(base, { path: dir, type: 'dir', mode: 0o755 });
  addEntry(base, { path: 'root', type: 'dir', mode: 0o700 });
  addEntry(base, { path: 'tmp', type: 'dir', mode: 0o1777 });
  addEntry(base, { path: 'bin/busybox', type: 'file', mode: 0o755, size: busybox.length, chunks: () => [busybox] });
  for (const applet of busyboxApplets) addEntry(base, { path: `bin/${applet}`, type: 'symlink', mode: 0o777, linkTarget: 'busybox' });
  addEntry(base, { path: 'usr/bin/env', type: 'symlink', mode: 0o777, linkTarget: '/bin/busybox' });
  const textFile = (path: string, text: string, mode = 0o644): TarEntry => {
    const data = Buffer.from(text);
    return { path, type: 'file', mode, size: data.length, chunks: () => [data] };
  };
  addEntry(base, textFile('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'));
  addEntry(base, textFile('etc/group', 'root:x:0:\nnobody:x:65534:\n'));
  const layers = [await buildLayer(base, zlibConstants.Z_DEFAULT_COMPRESSION)];

  const extra = new Map<string, TarEntry>();
  for (const [path, content] of Object.entries(options.extraFiles ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    addEntry(extra, { path: normalisePath(path), type: 'file', mode: 0o644, size: data.length, chunks: () => [data] });
  }
  const blobSize = options.extraLayerSizeBytes ?? 0;
  if (!Number.isSafeInteger(blobSize) || blobSize < 0) throw new Error(`extraLayerSizeBytes must be a non-negative integer, got ${blobSize}`);
  if (blobSize > 0) {
    const seed = `${options.tag ?? ''}:${blobSize}`;
    addEntry(extra, { path: 'data/random.bin', type: 'file', mode: 0o644, size: blobSize, chunks: () => randomChunks(seed, blobSize) });
  }
  // Random data does not compress, and deflating it still costs ~30 s/GB even at level 1: with a blob,
  // layer 2 is gzip with stored (level 0) blocks, ~1 s/GB, about the size deflate would give.
  if (extra.size > 0) layers.push(await buildLayer(extra, blobSize > 0 ? zlibConstants.Z_NO_COMPRESSION : zlibConstants.Z_DEFAULT_COMPRESSION));

  const labels: Record<string, string> = { ...options.labels };
  if (options.tag !== undefined) labels['dev.shoal.test-image'] = options.tag;
  const config: OciImageConfig = {
    architecture: ociArchitecture(),
    os: 'linux',
    created: fixedCreated,
    config: {
      Env: [`PATH=${defaultPath}`, ...(options.env ?? [])],
      Cmd: options.cmd ?? ['sh'],
      ...(Object.keys(labels).length > 0 ? { Labels: Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))) } : {}),
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: fixedCreated, created_by: i === 0 ? 'shoal hack/images.ts: busybox-static base' : 'shoal hack/images.ts: extra files' })),
  };
  return assembleImage(config, layers);
}

/** The config and manifest blobs around built layers: what a registry stores for the image. */
function assembleImage(config: OciImageConfig, layers: ImageLayer[]): OciImage {
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = sha256(configBytes);
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.manifest,
    config: { mediaType: mediaTypes.config, digest: configDigest, size: configBytes.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { manifest, manifestBytes, manifestDigest: sha256(manifestBytes), config, configBytes, configDigest, layers };
}

export interface RandomImageOptions {
  /** Seeds the bytes: the same seed, layer count and size give the same digests. */
  seed: string;
  /** Number of layers; the bytes are split evenly (the last one takes the remainder). */
  layers: number;
  /** Total size of the random files across all layers; each layer blob is a few bytes more (tar + gzip framing). */
  totalBytes: number;
}

/**
 * An image of `layers` layers, each one file `data/layer-<i>.bin` of incompressible seeded bytes, for transfer
 * benchmarks (no busybox: nothing runs from it). Layers are gzip with stored blocks, as for `extraLayerSizeBytes`.
 */
export async function buildRandomImage(options: RandomImageOptions): Promise<OciImage> {
  const { seed, layers: count, totalBytes } = options;
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`layers must be a positive integer, got ${count}`);
  if (!Number.isSafeInteger(totalBytes) || totalBytes < count) throw new Error(`totalBytes must be an integer ≥ layers, got ${totalBytes}`);
  const each = Math.floor(totalBytes / count);
  const layers: ImageLayer[] = [];
  for (let i = 0; i < count; i++) {
    const size = i === count - 1 ? totalBytes - each * (count - 1) : each;
    const entries = new Map<string, TarEntry>();
    addEntry(entries, { path: `data/layer-${i}.bin`, type: 'file', mode: 0o644, size, chunks: () => randomChunks(`${seed}:${i}:${size}`, size) });
    layers.push(await buildLayer(entries, zlibConstants.Z_NO_COMPRESSION));
  }
  const config: OciImageConfig = {
    architecture: ociArchitecture(),
    os: 'linux',
    created: fixedCreated,
    config: { Env: [`PATH=${defaultPath}`], Cmd: ['/data'], Labels: { 'dev.shoal.test-image': `random:${seed}` } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: fixedCreated, created_by: 'shoal hack/images.ts: random layer' })),
  };
  return assembleImage(config, layers);
}

// ---------------------------------------------------------------------------------------------
// OCI distribution push (fetch).

async function expectStatus(res: Response, ok: number[], what: string): Promise<void> {
  if (ok.includes(res.status)) return;
  const body = await res.text().catch(() => '');
  throw new Error(`${what}: HTTP ${res.status} ${body.slice(0, 500)}`);
}

async function pushBlob(registryUrl: string, repo: string, digest: string, data: Buffer): Promise<'exists' | 'uploaded'> {
  const blobUrl = `${registryUrl}/v2/${repo}/blobs/${digest}`;
  const head = await fetch(blobUrl, { method: 'HEAD' });
  if (head.status === 200) return 'exists';
  const start = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
  await expectStatus(start, [202], `POST ${repo} blob upload`);
  await start.arrayBuffer();
  const location = start.headers.get('location');
  if (!location) throw new Error(`POST ${repo} blob upload: no Location header`);
  const target = new URL(location, registryUrl);
  target.searchParams.set('digest', digest);
  const put = await fetch(target, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: data });
  await expectStatus(put, [201], `PUT ${repo} blob ${digest}`);
  await put.arrayBuffer();
  return 'uploaded';
}

export interface PushResult {
  /** `Docker-Content-Digest` of the manifest PUT (checked against image.manifestDigest). */
  digest: string;
  uploaded: number;
  skipped: number;
}

/** Pushes the blobs (skipping ones the registry has: HEAD) and then the manifest as `repo:tag`. */
export async function pushImage(registryUrl: string, repo: string, tag: string, image: OciImage): Promise<PushResult> {
  const base = registryUrl.replace(/\/+$/, '');
  let uploaded = 0;
  let skipped = 0;
  for (const blob of [...image.layers, { digest: image.configDigest, data: image.configBytes }]) {
    if ((await pushBlob(base, repo, blob.digest, blob.data)) === 'exists') skipped++;
    else uploaded++;
  }
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': mediaTypes.manifest },
    body: image.manifestBytes,
  });
  await expectStatus(res, [201], `PUT ${repo}:${tag} manifest`);
  await res.arrayBuffer();
  const digest = res.headers.get('docker-content-digest') ?? '';
  if (digest !== image.manifestDigest) throw new Error(`PUT ${repo}:${tag}: registry says digest ${digest}, we computed ${image.manifestDigest}`);
  return { digest, uploaded, skipped };
}

// ---------------------------------------------------------------------------------------------

/** The standard test images, by `repo:tag`. */
export const standardImages = {
  busybox: 'shoal/busybox:1.36',
  busyboxLatest: 'shoal/busybox:latest',
  /** Exits with code 3 right away. */
  failing: 'shoal/failing:1',
  /** Sleeps for an hour. */
  sleeper: 'shoal/sleeper:1',
} as const;

export interface SeededImage {
  repo: string;
  tag: string;
  /** `<registry host>/<repo>:<tag>`, what CRI PullImage takes. */
  ref: string;
  digest: string;
  image: OciImage;
}

/** Pushes the standard test images (see `standardImages`) and returns them by `repo:tag`. */
export async function seedRegistry(registry: { url: string; host: string }): Promise<Record<string, SeededImage>> {
  const busybox = await buildBusyboxImage();
  const builds: [string, OciImage][] = [
    [standardImages.busybox, busybox],
    [standardImages.busyboxLatest, busybox],
    [standardImages.failing, await buildBusyboxImage({ cmd: ['sh', '-c', 'exit 3'] })],
    [standardImages.sleeper, await buildBusyboxImage({ cmd: ['sleep', '3600'] })],
  ];
  const out: Record<string, SeededImage> = {};
  for (const [name, image] of builds) {
    const colon = name.lastIndexOf(':');
    const repo = name.slice(0, colon);
    const tag = name.slice(colon + 1);
    const { digest } = await pushImage(registry.url, repo, tag, image);
    out[name] = { repo, tag, ref: `${registry.host}/${name}`, digest, image };
  }
  return out;
}
