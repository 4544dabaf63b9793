// CRI ImageService (runtime.v1) on containerd's socket: pulls the way kubelet does, so registry mirrors and
// hosts.toml from containerd's CRI config apply. CRI always works in namespace k8s.io and unpacks into its
// snapshotter (overlayfs by default), ignoring our containerd-namespace header.
import { bool, message, messages, num, optionalMessage, str, stringMap, strings } from "./decode.js";
/** The containerd namespace CRI stores images, content and snapshots in. */
export const criNamespace = 'k8s.io';
function decodeImage(value) {
    const i = message(value, 'cri image');
    const uid = optionalMessage(i['uid'], 'uid');
    return {
        id: str(i, 'id'),
        repoTags: strings(i, 'repo_tags'),
        repoDigests: strings(i, 'repo_digests'),
        size: num(i, 'size'),
        ...(uid ? { uid: num(uid, 'value') } : {}),
        username: str(i, 'username'),
        pinned: i['pinned'] === true,
    };
}
function imageSpec(ref) {
    return { image: ref, annotations: {} };
}
export class CriImages {
    #rpc;
    constructor(rpc) {
        this.#rpc = rpc;
    }
    /**
     * Pulls and unpacks `ref`; resolves with the image id (config digest) — containerd 1.6 returns the id,
     * not the manifest digest. Default deadline 10 min (layers can be large); progress: content.listStatuses().
     */
    async pullImage(ref, opts = {}, options = {}) {
        const auth = opts.auth
            ? {
                username: opts.auth.username ?? '',
                password: opts.auth.password ?? '',
                auth: opts.auth.auth ?? '',
                server_address: opts.auth.serverAddress ?? '',
                identity_token: opts.auth.identityToken ?? '',
                registry_token: opts.auth.registryToken ?? '',
            }
            : undefined;
        const res = await this.#rpc.unary('criImages', 'PullImage', { image: imageSpec(ref), ...(auth ? { auth } : {}) }, { ...options, timeoutMs: options.timeoutMs === undefined ? 600_000 : options.timeoutMs });
        return { imageRef: str(res, 'image_ref') };
    }
    /** The image by tag, digest ref or id; undefined when it is not present (CRI answers OK with no image). */
    async imageStatus(ref, options) {
        const res = await this.#rpc.unary('criImages', 'ImageStatus', { image: imageSpec(ref), verbose: false }, options);
        const image = optionalMessage(res['image'], 'image');
        return image ? decodeImage(image) : undefined;
    }
    async listImages(options) {
        const res = await this.#rpc.unary('criImages', 'ListImages', {}, options);
        return messages(res, 'images').map(decodeImage);
    }
    /**
     * RuntimeService.Status on the same socket (kept here so the one `cri` handle covers CRI). With `verbose`,
     * containerd adds its CRI config as JSON under `info.config`: how the mirror checks `config_path`.
     */
    async runtimeStatus(opts = {}, options) {
        const res = await this.#rpc.unary('criRuntime', 'Status', { verbose: opts.verbose === true }, options);
        const status = optionalMessage(res['status'], 'status');
        const conditions = status
            ? messages(status, 'conditions').map((c) => ({ type: str(c, 'type'), status: bool(c, 'status'), reason: str(c, 'reason'), message: str(c, 'message') }))
            : [];
        return { conditions, info: stringMap(res, 'info') };
    }
    /** Removes the image and all its tags (idempotent: OK when absent). */
    async removeImage(ref, options) {
        await this.#rpc.unary('criImages', 'RemoveImage', { image: imageSpec(ref) }, options);
    }
}
