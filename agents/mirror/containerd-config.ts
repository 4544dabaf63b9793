// Does containerd on this node let the mirror work? It must read hosts.toml from our certs.d (CRI registry
// `config_path`) and keep compressed layers after unpacking (`discard_unpacked_layers = false`), or peers get
// nothing to serve. Asked through CRI RuntimeService.Status (verbose), whose `info.config` is the CRI plugin's
// effective config as JSON (checked against containerd 1.6.20: `registry.configPath`,
// `containerd.discardUnpackedLayers`; the same JSON names in 1.7).
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ContainerdClient } from '../runtime/containerd/client.ts';

export type ContainerdConfigProblem = 'ConfigPathNotSet' | 'ConfigPathMismatch' | 'DiscardUnpackedLayers' | 'ContainerdConfigUnknown';

export type ContainerdConfigVerdict = { ok: true; message: string } | { ok: false; reason: ContainerdConfigProblem; message: string };

interface CriConfigJson {
  registry?: { configPath?: unknown };
  containerd?: { discardUnpackedLayers?: unknown };
}

/**
 * Judges CRI's verbose Status info. `certsDirs` are the spellings of our certs.d (as configured, and resolved
 * through symlinks); containerd's `config_path` may list several directories separated by ':'.
 */
export function judgeContainerdConfig(info: Record<string, string>, certsDirs: readonly string[]): ContainerdConfigVerdict {
  const raw = info['config'];
  if (raw === undefined) return { ok: false, reason: 'ContainerdConfigUnknown', message: 'containerd\'s CRI Status has no "config" entry; cannot tell whether it reads hosts.toml.' };
  let config: CriConfigJson;
  try {
    config = JSON.parse(raw) as CriConfigJson;
  } catch (err) {
    return { ok: false, reason: 'ContainerdConfigUnknown', message: `containerd's CRI config is not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const configPath = typeof config.registry?.configPath === 'string' ? config.registry.configPath : '';
  if (configPath === '') {
    return {
      ok: false,
      reason: 'ConfigPathNotSet',
      message: `containerd does not read hosts.toml: set config_path = "${certsDirs[0] ?? ''}" under [plugins."io.containerd.grpc.v1.cri".registry] and restart containerd.`,
    };
  }
  const wanted = new Set(certsDirs.map((d) => resolve(d)));
  const paths = configPath.split(':').filter(Boolean);
  if (!paths.some((p) => wanted.has(resolve(p)))) {
    return { ok: false, reason: 'ConfigPathMismatch', message: `containerd reads hosts.toml from ${configPath}, but the agent writes them to ${certsDirs[0] ?? ''} (--containerd-config-path).` };
  }
  if (config.containerd?.discardUnpackedLayers === true) {
    return {
      ok: false,
      reason: 'DiscardUnpackedLayers',
      message: 'containerd discards compressed layers after unpacking, so the mirror has nothing to serve: set discard_unpacked_layers = false under [plugins."io.containerd.grpc.v1.cri".containerd].',
    };
  }
  return { ok: true, message: `containerd reads hosts.toml from ${configPath} and keeps compressed layers.` };
}

/** Asks containerd (CRI Status, verbose) and judges the answer; a failed call is ContainerdConfigUnknown. */
export async function checkContainerdConfig(containerd: ContainerdClient, certsDir: string, options: { timeoutMs?: number } = {}): Promise<ContainerdConfigVerdict> {
  const spellings = [certsDir, await realpath(certsDir).catch(() => certsDir)];
  try {
    const status = await containerd.cri.runtimeStatus({ verbose: true }, { timeoutMs: options.timeoutMs ?? 5_000 });
    return judgeContainerdConfig(status.info, spellings);
  } catch (err) {
    return { ok: false, reason: 'ContainerdConfigUnknown', message: `CRI Status failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}
