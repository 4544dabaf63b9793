// Builds the OCI runtime spec (config.json for runc) of a Shoal container: containerd 1.6's
// oci.WithDefaultSpec + WithImageConfig, Kubernetes command/args semantics, and our resources and cgroup.
// Pure: every host fact (cgroup version) comes in as an argument, so unit tests pin the whole output.
import type { CgroupInfo } from './cgroup.ts';
import type { ImageConfig } from './image.ts';

/** runtime-spec version containerd 1.6 / runc 1.1 write. */
export const ociVersion = '1.0.2-dev';

/** Parent of every Shoal container cgroup (cgroupfs driver): /shoal/<container id>. */
export const defaultCgroupParent = '/shoal';

/** containerd's defaultUnixCaps(): Docker's default set. */
export const defaultCapabilities = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
] as const;

export const defaultMaskedPaths = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
] as const;

export const defaultReadonlyPaths = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'] as const;

/** PATH containerd sets when the image config has no Env at all. */
export const defaultPathEnv = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** CFS period Kubernetes uses (100 ms). */
export const cfsPeriodUs = 100_000;

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** The subset of the OCI runtime spec we produce (field names as in config.json). */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: {
    resources: {
      devices: { allow: boolean; access: string; type?: string; major?: number; minor?: number }[];
      cpu?: { shares?: number; quota?: number; period?: number };
      memory?: { limit?: number; swap?: number };
      pids?: { limit: number };
    };
    cgroupsPath: string;
    namespaces: { type: string; path?: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

export interface Resources {
  /** CPU limit, millicores → CFS quota (and shares when no request is given). */
  cpuLimitMillis?: number;
  /** CPU request, millicores → cpu.shares (relative weight). */
  cpuRequestMillis?: number;
  /** Memory limit in bytes (swap disabled when the host allows setting it). */
  memoryLimitBytes?: number;
  /** Max processes in the container. */
  pidsLimit?: number;
}

export interface SpecInput {
  /** Container id: default hostname and the cgroup leaf. */
  id: string;
  /** The image's config (image.ts resolveImage().imageConfig). */
  image: ImageConfig;
  /** Kubernetes `command`: replaces the image Entrypoint (and drops its Cmd). */
  command?: string[];
  /** Kubernetes `args`: replaces the image Cmd. */
  args?: string[];
  /** Added to / overriding the image Env, in order. */
  env?: Record<string, string>;
  workingDir?: string;
  /** Overrides the image User. Required when the image User is a name (we do not read /etc/passwd). */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  hostname?: string;
  /**
   * Share the host's network namespace (default true): Shoal has no CNI yet, so a private netns would
   * have only loopback — the workload could neither reach anything nor be reached.
   */
  hostNetwork?: boolean;
  /**
   * Share the host's PID namespace (default false). In a private one the process is PID 1, and the kernel
   * drops every signal PID 1 has no handler for — SIGTERM included; only SIGKILL always works.
   */
  hostPid?: boolean;
  resources?: Resources;
  cgroup: CgroupInfo;
  /** Default /shoal. */
  cgroupParent?: string;
  /** Extra mounts (bind mounts of volumes, /etc/resolv.conf, …), appended after the defaults. */
  mounts?: OciMount[];
  /** RLIMIT_NOFILE soft=hard (containerd's default: 1024). */
  nofile?: number;
  readonlyRootfs?: boolean;
  oomScoreAdj?: number;
  annotations?: Record<string, string>;
}

export class SpecError extends Error {
  override name = 'SpecError';
}

/** containerd's defaultMounts() plus the read-only cgroup mount CRI adds. */
export function defaultMounts(): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

/** containerd's replaceOrAppendEnvValues: overrides replace same-named entries in place, new ones append. */
export function mergeEnv(defaults: readonly string[], overrides: readonly string[]): string[] {
  const result = [...defaults];
  const index = new Map<string, number>();
  result.forEach((entry, i) => index.set(entry.split('=', 1)[0] ?? entry, i));
  for (const entry of overrides) {
    const eq = entry.indexOf('=');
    const name = eq === -1 ? entry : entry.slice(0, eq);
    const at = index.get(name);
    if (eq === -1) {
      if (at !== undefined) result[at] = ''; // "NAME" without "=" unsets it
      continue;
    }
    if (at !== undefined) result[at] = entry;
    else index.set(name, result.push(entry) - 1);
  }
  return result.filter((entry) => entry !== '');
}

/** Kubernetes: command replaces Entrypoint (image Cmd dropped); args replace Cmd. */
export function processArgs(image: ImageConfig, command?: string[], args?: string[]): string[] {
  if (command && command.length > 0) return [...command, ...(args ?? [])];
  const entrypoint = image.Entrypoint ?? [];
  const cmd = args && args.length > 0 ? args : (image.Cmd ?? []);
  return [...entrypoint, ...cmd];
}

/** Image User "uid", "uid:gid" or "" → numbers; a user *name* → undefined (needs the rootfs /etc/passwd). */
export function numericUser(user: string | undefined): { uid: number; gid: number } | undefined {
  if (!user) return { uid: 0, gid: 0 };
  const match = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!match) return undefined;
  return { uid: Number(match[1]), gid: match[2] === undefined ? 0 : Number(match[2]) };
}

/** Kubernetes MilliCPUToShares: 1024 per core, at least 2, at most 262144. */
export function cpuShares(millis: number): number {
  return Math.min(262_144, Math.max(2, Math.floor((millis * 1024) / 1000)));
}

/** Kubernetes MilliCPUToQuota: quota per period, at least 1 ms. */
export function cpuQuota(millis: number, period = cfsPeriodUs): number {
  return Math.max(1000, Math.floor((millis * period) / 1000));
}

function linuxResources(resources: Resources | undefined, cgroup: CgroupInfo): OciSpec['linux']['resources'] {
  const out: OciSpec['linux']['resources'] = { devices: [{ allow: false, access: 'rwm' }] };
  if (!resources) return out;
  const sharesFrom = resources.cpuRequestMillis ?? resources.cpuLimitMillis;
  const cpu: NonNullable<OciSpec['linux']['resources']['cpu']> = {};
  if (sharesFrom !== undefined) cpu.shares = cpuShares(sharesFrom);
  if (resources.cpuLimitMillis !== undefined && resources.cpuLimitMillis > 0) {
    cpu.quota = cpuQuota(resources.cpuLimitMillis);
    cpu.period = cfsPeriodUs;
  }
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (resources.memoryLimitBytes !== undefined && resources.memoryLimitBytes > 0) {
    // swap == limit means "no swap" (memory+swap total); only where the host can set it (else runc fails on v1).
    out.memory = { limit: resources.memoryLimitBytes, ...(cgroup.swapLimit ? { swap: resources.memoryLimitBytes } : {}) };
  }
  if (resources.pidsLimit !== undefined && resources.pidsLimit > 0) out.pids = { limit: resources.pidsLimit };
  return out;
}

/** The full spec for `input`; throws SpecError when there is nothing to run or the user cannot be resolved. */
export function buildSpec(input: SpecInput): OciSpec {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(input.id)) throw new SpecError(`invalid container id ${JSON.stringify(input.id)}`);
  const args = processArgs(input.image, input.command, input.args);
  if (args.length === 0) throw new SpecError(`container ${input.id}: no command (image has no Entrypoint/Cmd and none was given)`);
  const imageEnv = input.image.Env && input.image.Env.length > 0 ? input.image.Env : [defaultPathEnv];
  const env = mergeEnv(imageEnv, Object.entries(input.env ?? {}).map(([k, v]) => `${k}=${v}`));
  const user = input.user ?? numericUser(input.image.User);
  if (!user) throw new SpecError(`container ${input.id}: image user ${JSON.stringify(input.image.User)} is a name; pass a numeric user`);
  const hostNetwork = input.hostNetwork ?? true;
  const namespaces = [{ type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (!(input.hostPid ?? false)) namespaces.unshift({ type: 'pid' });
  if (!hostNetwork) namespaces.push({ type: 'network' });
  // On cgroup v2 the container sees its own cgroup as the root of /sys/fs/cgroup (what CRI does).
  if (input.cgroup.version === 2) namespaces.push({ type: 'cgroup' });
  const caps = [...defaultCapabilities];
  const cwd = input.workingDir || input.image.WorkingDir || '/';
  const parent = (input.cgroupParent ?? defaultCgroupParent).replace(/\/+$/, '');
  const nofile = input.nofile ?? 1024;
  return {
    ociVersion,
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid, ...(input.user?.additionalGids ? { additionalGids: input.user.additionalGids } : {}) },
      args,
      env,
      cwd,
      capabilities: { bounding: caps, effective: [...caps], permitted: [...caps] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
      noNewPrivileges: true,
      ...(input.oomScoreAdj !== undefined ? { oomScoreAdj: input.oomScoreAdj } : {}),
    },
    root: { path: 'rootfs', readonly: input.readonlyRootfs ?? false },
    hostname: input.hostname ?? input.id,
    mounts: [...defaultMounts(), ...(input.mounts ?? [])],
    ...(input.annotations ? { annotations: input.annotations } : {}),
    linux: {
      resources: linuxResources(input.resources, input.cgroup),
      cgroupsPath: `${parent}/${input.id}`,
      namespaces,
      maskedPaths: [...defaultMaskedPaths],
      readonlyPaths: [...defaultReadonlyPaths],
    },
  };
}
