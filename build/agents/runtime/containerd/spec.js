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
];
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
];
export const defaultReadonlyPaths = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
/** PATH containerd sets when the image config has no Env at all. */
export const defaultPathEnv = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** CFS period Kubernetes uses (100 ms). */
export const cfsPeriodUs = 100_000;
export class SpecError extends Error {
    name = 'SpecError';
}
/** containerd's defaultMounts() plus the read-only cgroup mount CRI adds. */
export function defaultMounts() {
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
export function mergeEnv(defaults, overrides) {
    const result = [...defaults];
    const index = new Map();
    result.forEach((entry, i) => index.set(entry.split('=', 1)[0] ?? entry, i));
    for (const entry of overrides) {
        const eq = entry.indexOf('=');
        const name = eq === -1 ? entry : entry.slice(0, eq);
        const at = index.get(name);
        if (eq === -1) {
            if (at !== undefined)
                result[at] = ''; // "NAME" without "=" unsets it
            continue;
        }
        if (at !== undefined)
            result[at] = entry;
        else
            index.set(name, result.push(entry) - 1);
    }
    return result.filter((entry) => entry !== '');
}
/** Kubernetes: command replaces Entrypoint (image Cmd dropped); args replace Cmd. */
export function processArgs(image, command, args) {
    if (command && command.length > 0)
        return [...command, ...(args ?? [])];
    const entrypoint = image.Entrypoint ?? [];
    const cmd = args && args.length > 0 ? args : (image.Cmd ?? []);
    return [...entrypoint, ...cmd];
}
/** Image User "uid", "uid:gid" or "" → numbers; a user *name* → undefined (needs the rootfs /etc/passwd). */
export function numericUser(user) {
    if (!user)
        return { uid: 0, gid: 0 };
    const match = /^(\d+)(?::(\d+))?$/.exec(user);
    if (!match)
        return undefined;
    return { uid: Number(match[1]), gid: match[2] === undefined ? 0 : Number(match[2]) };
}
/** Kubernetes MilliCPUToShares: 1024 per core, at least 2, at most 262144. */
export function cpuShares(millis) {
    return Math.min(262_144, Math.max(2, Math.floor((millis * 1024) / 1000)));
}
/** Kubernetes MilliCPUToQuota: quota per period, at least 1 ms. */
export function cpuQuota(millis, period = cfsPeriodUs) {
    return Math.max(1000, Math.floor((millis * period) / 1000));
}
function linuxResources(resources, cgroup) {
    const out = { devices: [{ allow: false, access: 'rwm' }] };
    if (!resources)
        return out;
    const sharesFrom = resources.cpuRequestMillis ?? resources.cpuLimitMillis;
    const cpu = {};
    if (sharesFrom !== undefined)
        cpu.shares = cpuShares(sharesFrom);
    if (resources.cpuLimitMillis !== undefined && resources.cpuLimitMillis > 0) {
        cpu.quota = cpuQuota(resources.cpuLimitMillis);
        cpu.period = cfsPeriodUs;
    }
    if (Object.keys(cpu).length > 0)
        out.cpu = cpu;
    if (resources.memoryLimitBytes !== undefined && resources.memoryLimitBytes > 0) {
        // swap == limit means "no swap" (memory+swap total); only where the host can set it (else runc fails on v1).
        out.memory = { limit: resources.memoryLimitBytes, ...(cgroup.swapLimit ? { swap: resources.memoryLimitBytes } : {}) };
    }
    if (resources.pidsLimit !== undefined && resources.pidsLimit > 0)
        out.pids = { limit: resources.pidsLimit };
    return out;
}
/** The full spec for `input`; throws SpecError when there is nothing to run or the user cannot be resolved. */
export function buildSpec(input) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(input.id))
        throw new SpecError(`invalid container id ${JSON.stringify(input.id)}`);
    const args = processArgs(input.image, input.command, input.args);
    if (args.length === 0)
        throw new SpecError(`container ${input.id}: no command (image has no Entrypoint/Cmd and none was given)`);
    const imageEnv = input.image.Env && input.image.Env.length > 0 ? input.image.Env : [defaultPathEnv];
    const env = mergeEnv(imageEnv, Object.entries(input.env ?? {}).map(([k, v]) => `${k}=${v}`));
    const user = input.user ?? numericUser(input.image.User);
    if (!user)
        throw new SpecError(`container ${input.id}: image user ${JSON.stringify(input.image.User)} is a name; pass a numeric user`);
    const hostNetwork = input.hostNetwork ?? true;
    const namespaces = [{ type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
    if (!(input.hostPid ?? false))
        namespaces.unshift({ type: 'pid' });
    if (!hostNetwork)
        namespaces.push({ type: 'network' });
    // On cgroup v2 the container sees its own cgroup as the root of /sys/fs/cgroup (what CRI does).
    if (input.cgroup.version === 2)
        namespaces.push({ type: 'cgroup' });
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
