// From an image name to what running it needs: image record → (index →) manifest → config → rootfs diff_ids
// → chain ID, the name of the committed snapshot of the top layer that a container rootfs is prepared on.
import { createHash } from 'node:crypto';
export const mediaTypes = {
    ociIndex: 'application/vnd.oci.image.index.v1+json',
    ociManifest: 'application/vnd.oci.image.manifest.v1+json',
    ociConfig: 'application/vnd.oci.image.config.v1+json',
    dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
    dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
    dockerConfig: 'application/vnd.docker.container.image.v1+json',
};
export class ImageError extends Error {
    name = 'ImageError';
}
/** Go's GOARCH for Node's process.arch (the platform containerd's default platform matcher uses). */
export function hostPlatform(arch = process.arch) {
    switch (arch) {
        case 'x64':
            return { os: 'linux', architecture: 'amd64' };
        case 'arm64':
            return { os: 'linux', architecture: 'arm64', variant: 'v8' };
        case 'arm':
            return { os: 'linux', architecture: 'arm', variant: 'v7' };
        case 'ia32':
            return { os: 'linux', architecture: '386' };
        case 'ppc64':
            return { os: 'linux', architecture: 'ppc64le' };
        default:
            return { os: 'linux', architecture: arch }; // s390x, riscv64, loong64 have the same names
    }
}
/** Chain IDs per the OCI image spec: chain(1) = diff(1); chain(n) = sha256(chain(n-1) + " " + diff(n)). */
export function chainIds(diffIds) {
    const out = [];
    for (const diffId of diffIds) {
        const previous = out.at(-1);
        out.push(previous === undefined ? diffId : `sha256:${createHash('sha256').update(`${previous} ${diffId}`).digest('hex')}`);
    }
    return out;
}
/** The chain ID of the whole layer stack (the top layer's). */
export function chainId(diffIds) {
    const top = chainIds(diffIds).at(-1);
    if (top === undefined)
        throw new ImageError('image has no layers');
    return top;
}
function normalizeVariant(p) {
    if (p.architecture === 'arm64')
        return p.variant === undefined || p.variant === '' ? 'v8' : p.variant;
    return p.variant ?? '';
}
/** Whether an index entry's platform runs on `want` (os/arch exact, variant normalised like containerd). */
export function platformMatches(have, want) {
    if (have.os !== want.os || have.architecture !== want.architecture)
        return false;
    const wantVariant = normalizeVariant(want);
    const haveVariant = normalizeVariant(have);
    return haveVariant === '' || wantVariant === '' || haveVariant === wantVariant;
}
const digestPattern = /^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/;
function object(value, what) {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new ImageError(`${what}: expected a JSON object`);
    return value;
}
function optionalStrings(value, what) {
    if (value === undefined || value === null)
        return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
        throw new ImageError(`${what}: expected an array of strings`);
    return value;
}
function optionalString(value, what) {
    if (value === undefined || value === null)
        return undefined;
    if (typeof value !== 'string')
        throw new ImageError(`${what}: expected a string`);
    return value;
}
function descriptor(value, what) {
    const d = object(value, what);
    const digest = d['digest'];
    const size = d['size'];
    if (typeof digest !== 'string' || !digestPattern.test(digest))
        throw new ImageError(`${what}: bad digest ${JSON.stringify(digest)}`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
        throw new ImageError(`${what}: bad size`);
    const annotations = {};
    for (const [k, v] of Object.entries(object(d['annotations'] ?? {}, `${what}.annotations`)))
        if (typeof v === 'string')
            annotations[k] = v;
    return { mediaType: optionalString(d['mediaType'], `${what}.mediaType`) ?? '', digest, size, annotations };
}
function parseJson(blob, what) {
    try {
        return object(JSON.parse(blob.toString('utf8')), what);
    }
    catch (err) {
        if (err instanceof ImageError)
            throw err;
        throw new ImageError(`${what}: invalid JSON`, { cause: err });
    }
}
/** Picks the manifest for `platform` from an OCI index / Docker manifest list document. */
export function selectManifest(index, platform, what = 'index') {
    const entries = index['manifests'];
    if (!Array.isArray(entries))
        throw new ImageError(`${what}: no manifests array`);
    const seen = [];
    for (const [i, entry] of entries.entries()) {
        const desc = descriptor(entry, `${what}.manifests[${i}]`);
        const p = object(object(entry, 'entry')['platform'] ?? {}, `${what}.manifests[${i}].platform`);
        const have = { os: String(p['os'] ?? ''), architecture: String(p['architecture'] ?? '') };
        if (typeof p['variant'] === 'string')
            have.variant = p['variant'];
        seen.push(`${have.os}/${have.architecture}${have.variant ? `/${have.variant}` : ''}`);
        if (platformMatches(have, platform))
            return desc;
    }
    const want = `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
    throw new ImageError(`${what}: no manifest for ${want} (has ${seen.join(', ') || 'none'})`);
}
/** Validates the parts of an OCI/Docker image config we use. */
export function parseImageConfig(doc, what = 'config') {
    const rootfs = object(doc['rootfs'], `${what}.rootfs`);
    if (rootfs['type'] !== 'layers')
        throw new ImageError(`${what}.rootfs.type: expected "layers"`);
    const diffIds = optionalStrings(rootfs['diff_ids'], `${what}.rootfs.diff_ids`) ?? [];
    for (const d of diffIds)
        if (!digestPattern.test(d))
            throw new ImageError(`${what}.rootfs.diff_ids: bad digest ${d}`);
    const c = object(doc['config'] ?? {}, `${what}.config`);
    const imageConfig = {};
    const user = optionalString(c['User'], 'User');
    if (user !== undefined)
        imageConfig.User = user;
    for (const key of ['Env', 'Entrypoint', 'Cmd']) {
        const value = optionalStrings(c[key], key);
        if (value !== undefined)
            imageConfig[key] = value;
    }
    const workingDir = optionalString(c['WorkingDir'], 'WorkingDir');
    if (workingDir !== undefined)
        imageConfig.WorkingDir = workingDir;
    const stopSignal = optionalString(c['StopSignal'], 'StopSignal');
    if (stopSignal !== undefined)
        imageConfig.StopSignal = stopSignal;
    if (c['Labels'] !== undefined && c['Labels'] !== null) {
        const labels = {};
        for (const [k, v] of Object.entries(object(c['Labels'], 'Labels')))
            if (typeof v === 'string')
                labels[k] = v;
        imageConfig.Labels = labels;
    }
    for (const key of ['ExposedPorts', 'Volumes']) {
        if (c[key] !== undefined && c[key] !== null)
            imageConfig[key] = object(c[key], key);
    }
    const platform = { os: String(doc['os'] ?? ''), architecture: String(doc['architecture'] ?? '') };
    if (typeof doc['variant'] === 'string')
        platform.variant = doc['variant'];
    return { imageConfig, diffIds, platform };
}
const indexTypes = new Set([mediaTypes.ociIndex, mediaTypes.dockerManifestList]);
const manifestTypes = new Set([mediaTypes.ociManifest, mediaTypes.dockerManifest]);
const configTypes = new Set([mediaTypes.ociConfig, mediaTypes.dockerConfig]);
/**
 * Resolves image record `name` for `platform` (default: this host's) by reading blobs through the content
 * service. Handles OCI and Docker schema2 manifests and indexes (nested up to 4 deep); not Docker schema1.
 */
export async function resolveImage(source, name, platform = hostPlatform()) {
    const record = await source.images.get(name);
    let desc = record.target;
    let doc;
    for (let depth = 0; depth < 5; depth++) {
        doc = parseJson(await source.content.readAll(desc.digest), desc.digest);
        const mediaType = desc.mediaType || optionalString(doc['mediaType'], 'mediaType') || (Array.isArray(doc['manifests']) ? mediaTypes.ociIndex : mediaTypes.ociManifest);
        if (manifestTypes.has(mediaType))
            break;
        if (!indexTypes.has(mediaType))
            throw new ImageError(`${name}: unsupported media type ${mediaType} (${desc.digest})`);
        desc = selectManifest(doc, platform, `${name} ${desc.digest}`);
        doc = undefined;
    }
    if (!doc)
        throw new ImageError(`${name}: index nesting too deep`);
    const manifest = { ...desc, mediaType: desc.mediaType || optionalString(doc['mediaType'], 'mediaType') || mediaTypes.ociManifest };
    const config = descriptor(doc['config'], `${name} manifest.config`);
    if (config.mediaType && !configTypes.has(config.mediaType))
        throw new ImageError(`${name}: unsupported config media type ${config.mediaType}`);
    const layersRaw = doc['layers'];
    if (!Array.isArray(layersRaw))
        throw new ImageError(`${name}: manifest has no layers array`);
    const layers = layersRaw.map((l, i) => descriptor(l, `${name} manifest.layers[${i}]`));
    const parsed = parseImageConfig(parseJson(await source.content.readAll(config.digest), config.digest), `${name} config`);
    if (parsed.diffIds.length !== layers.length) {
        throw new ImageError(`${name}: ${layers.length} layers but ${parsed.diffIds.length} diff_ids`);
    }
    return {
        name: record.name,
        platform: parsed.platform.os ? parsed.platform : platform,
        manifest,
        config,
        layers,
        imageConfig: parsed.imageConfig,
        diffIds: parsed.diffIds,
        chainId: chainIds(parsed.diffIds).at(-1) ?? '',
    };
}
