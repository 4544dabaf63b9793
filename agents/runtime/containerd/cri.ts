// CRI ImageService (runtime.v1) on containerd's socket: pulls the way kubelet does, so registry mirrors and
// hosts.toml from containerd's CRI config apply. CRI always works in namespace k8s.io and unpacks into its
// snapshotter (overlayfs by default), ignoring our containerd-namespace header.
import { bool, message, messages, num, optionalMessage, str, stringMap, strings, type Message } from './decode.ts';
import type { CallOptions, Rpc } from './rpc.ts';

/** The containerd namespace CRI stores images, content and snapshots in. */
export const criNamespace = 'k8s.io';

export interface CriImage {
  /** Image id: the config digest ("sha256:…"); also a containerd image record name in k8s.io. */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
  /** From the image config User when numeric. */
  uid?: number;
  username: string;
  pinned: boolean;
}

export interface RegistryAuth {
  username?: string;
  password?: string;
  /** base64("user:password") */
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

/** CRI RuntimeService.Status: kubelet's view of the runtime, plus containerd's effective CRI config when verbose. */
export interface CriRuntimeStatus {
  conditions: { type: string; status: boolean; reason: string; message: string }[];
  /** Verbose only. containerd 1.6 fills `config` (its CRI plugin config as JSON), `golang`, `cniconfig`, `lastCNILoadStatus`. */
  info: Record<string, string>;
}

function decodeImage(value: unknown): CriImage {
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

function imageSpec(ref: string): Message {
  return { image: ref, annotations: {} };
}

export class CriImages {
  readonly #rpc: Rpc;

  constructor(rpc: Rpc) {
    this.#rpc = rpc;
  }

  /**
   * Pulls and unpacks `ref`; resolves with the image id (config digest) — containerd 1.6 returns the id,
   * not the manifest digest. Default deadline 10 min (layers can be large); progress: content.listStatuses().
   */
  async pullImage(ref: string, opts: { auth?: RegistryAuth } = {}, options: CallOptions = {}): Promise<{ imageRef: string }> {
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
  async imageStatus(ref: string, options?: CallOptions): Promise<CriImage | undefined> {
    const res = await this.#rpc.unary('criImages', 'ImageStatus', { image: imageSpec(ref), verbose: false }, options);
    const image = optionalMessage(res['image'], 'image');
    return image ? decodeImage(image) : undefined;
  }

  async listImages(options?: CallOptions): Promise<CriImage[]> {
    const res = await this.#rpc.unary('criImages', 'ListImages', {}, options);
    return messages(res, 'images').map(decodeImage);
  }

  /**
   * RuntimeService.Status on the same socket (kept here so the one `cri` handle covers CRI). With `verbose`,
   * containerd adds its CRI config as JSON under `info.config`: how the mirror checks `config_path`.
   */
  async runtimeStatus(opts: { verbose?: boolean } = {}, options?: CallOptions): Promise<CriRuntimeStatus> {
    const res = await this.#rpc.unary('criRuntime', 'Status', { verbose: opts.verbose === true }, options);
    const status = optionalMessage(res['status'], 'status');
    const conditions = status
      ? messages(status, 'conditions').map((c) => ({ type: str(c, 'type'), status: bool(c, 'status'), reason: str(c, 'reason'), message: str(c, 'message') }))
      : [];
    return { conditions, info: stringMap(res, 'info') };
  }

  /** Removes the image and all its tags (idempotent: OK when absent). */
  async removeImage(ref: string, options?: CallOptions): Promise<void> {
    await this.#rpc.unary('criImages', 'RemoveImage', { image: imageSpec(ref) }, options);
  }
}
