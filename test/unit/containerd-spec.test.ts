import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectCgroup, type CgroupInfo } from '../../agents/runtime/containerd/cgroup.ts';
import { decodeSpec, encodeSpec, ociSpecTypeUrl, type ContainerRecord } from '../../agents/runtime/containerd/containers.ts';
import type { ImageConfig } from '../../agents/runtime/containerd/image.ts';
import { memoryBytes, cpuMillis } from '../../operator/src/api/quantity.ts';
import {
  buildSpec,
  cpuQuota,
  cpuShares,
  defaultCapabilities,
  defaultMounts,
  mergeEnv,
  numericUser,
  processArgs,
  SpecError,
  type SpecInput,
} from '../../agents/runtime/containerd/spec.ts';

const v1: CgroupInfo = { version: 1, swapLimit: false };
const v2: CgroupInfo = { version: 2, swapLimit: true };
const busybox: ImageConfig = { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] };

function spec(input: Partial<SpecInput> = {}) {
  return buildSpec({ id: 'web-0', image: busybox, cgroup: v1, ...input });
}

describe('containerd spec', () => {
  it('builds containerd’s default spec for an image', () => {
    const s = spec({ command: ['sh', '-c', 'echo hi'] });
    assert.deepEqual(s, {
      ociVersion: '1.0.2-dev',
      process: {
        terminal: false,
        user: { uid: 0, gid: 0 },
        args: ['sh', '-c', 'echo hi'],
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        cwd: '/',
        capabilities: { bounding: [...defaultCapabilities], effective: [...defaultCapabilities], permitted: [...defaultCapabilities] },
        rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
        noNewPrivileges: true,
      },
      root: { path: 'rootfs', readonly: false },
      hostname: 'web-0',
      mounts: defaultMounts(),
      linux: {
        resources: { devices: [{ allow: false, access: 'rwm' }] },
        cgroupsPath: '/shoal/web-0',
        namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
        maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
        readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
      },
    });
    assert.equal(defaultCapabilities.length, 14);
    const destinations = s.mounts.map((m) => m.destination);
    assert.deepEqual(destinations, ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/run', '/sys/fs/cgroup']);
    assert.ok(s.mounts.find((m) => m.destination === '/sys')?.options.includes('ro'));
    assert.ok(s.mounts.find((m) => m.destination === '/sys/fs/cgroup')?.options.includes('ro'));
  });

  it('applies Kubernetes command/args over the image Entrypoint/Cmd', () => {
    const image: ImageConfig = { Entrypoint: ['/entry'], Cmd: ['--default'] };
    assert.deepEqual(processArgs(image), ['/entry', '--default']);
    assert.deepEqual(processArgs(image, undefined, ['--flag']), ['/entry', '--flag']);
    assert.deepEqual(processArgs(image, ['/bin/other']), ['/bin/other'], 'command drops the image Cmd');
    assert.deepEqual(processArgs(image, ['/bin/other'], ['a', 'b']), ['/bin/other', 'a', 'b']);
    assert.deepEqual(processArgs({ Cmd: ['sleep', '1'] }), ['sleep', '1']);
    assert.deepEqual(processArgs({}, [], []), []);
    assert.throws(() => spec({ image: {} }), SpecError);
  });

  it('merges env like containerd (image first, ours replace in place, "NAME" unsets)', () => {
    assert.deepEqual(mergeEnv(['PATH=/bin', 'A=1', 'B=2'], ['A=x', 'C=3', 'B', 'D=a=b']), ['PATH=/bin', 'A=x', 'C=3', 'D=a=b']);
    assert.deepEqual(spec({ image: { Cmd: ['sh'] }, env: { FOO: 'bar' } }).process.env, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'FOO=bar',
    ], 'default PATH when the image has no Env');
    assert.deepEqual(spec({ env: { PATH: '/opt/bin', X: '1' } }).process.env, ['PATH=/opt/bin', 'X=1']);
  });

  it('takes cwd and a numeric user from the image, refuses user names', () => {
    assert.deepEqual(numericUser(''), { uid: 0, gid: 0 });
    assert.deepEqual(numericUser(undefined), { uid: 0, gid: 0 });
    assert.deepEqual(numericUser('1000'), { uid: 1000, gid: 0 });
    assert.deepEqual(numericUser('1000:2000'), { uid: 1000, gid: 2000 });
    assert.equal(numericUser('nginx'), undefined);
    assert.equal(numericUser('1000:staff'), undefined);
    const s = spec({ image: { ...busybox, User: '65534:65534', WorkingDir: '/srv' } });
    assert.deepEqual(s.process.user, { uid: 65534, gid: 65534 });
    assert.equal(s.process.cwd, '/srv');
    assert.equal(spec({ image: { ...busybox, WorkingDir: '/srv' }, workingDir: '/work' }).process.cwd, '/work');
    assert.throws(() => spec({ image: { ...busybox, User: 'nginx' } }), /is a name/);
    assert.deepEqual(spec({ image: { ...busybox, User: 'nginx' }, user: { uid: 101, gid: 101, additionalGids: [5] } }).process.user, { uid: 101, gid: 101, additionalGids: [5] });
  });

  it('maps CPU millicores to shares and CFS quota like the kubelet', () => {
    assert.equal(cpuShares(1000), 1024);
    assert.equal(cpuShares(500), 512);
    assert.equal(cpuShares(1), 2);
    assert.equal(cpuShares(0), 2);
    assert.equal(cpuShares(1_000_000), 262_144);
    assert.equal(cpuQuota(500), 50_000);
    assert.equal(cpuQuota(2000), 200_000);
    assert.equal(cpuQuota(5), 1000, 'at least 1 ms per period');
    const limited = spec({ resources: { cpuLimitMillis: cpuMillis('500m'), memoryLimitBytes: memoryBytes('64Mi'), pidsLimit: 100 } });
    assert.deepEqual(limited.linux.resources, {
      devices: [{ allow: false, access: 'rwm' }],
      cpu: { shares: 512, quota: 50_000, period: 100_000 },
      memory: { limit: 67108864 },
      pids: { limit: 100 },
    });
    const requested = spec({ resources: { cpuRequestMillis: 250, cpuLimitMillis: 1000 } });
    assert.deepEqual(requested.linux.resources.cpu, { shares: 256, quota: 100_000, period: 100_000 });
    assert.deepEqual(spec({ resources: { cpuRequestMillis: 250 } }).linux.resources.cpu, { shares: 256 }, 'no limit: no quota');
  });

  it('disables swap only where the host can set a swap limit', () => {
    assert.deepEqual(spec({ cgroup: v2, resources: { memoryLimitBytes: 1024 } }).linux.resources.memory, { limit: 1024, swap: 1024 });
    assert.deepEqual(spec({ cgroup: { version: 1, swapLimit: true }, resources: { memoryLimitBytes: 1024 } }).linux.resources.memory, { limit: 1024, swap: 1024 });
    assert.deepEqual(spec({ cgroup: v1, resources: { memoryLimitBytes: 1024 } }).linux.resources.memory, { limit: 1024 });
  });

  it('chooses namespaces: host network by default, private pid, cgroupns on v2', () => {
    const types = (s: ReturnType<typeof spec>): string[] => s.linux.namespaces.map((n) => n.type);
    assert.deepEqual(types(spec()), ['pid', 'ipc', 'uts', 'mount']);
    assert.deepEqual(types(spec({ hostNetwork: false })), ['pid', 'ipc', 'uts', 'mount', 'network']);
    assert.deepEqual(types(spec({ hostPid: true })), ['ipc', 'uts', 'mount']);
    assert.deepEqual(types(spec({ cgroup: v2, hostNetwork: false })), ['pid', 'ipc', 'uts', 'mount', 'network', 'cgroup']);
  });

  it('sets cgroupsPath, hostname, extra mounts, rlimits and annotations', () => {
    const s = spec({
      cgroupParent: '/shoal/pods/',
      hostname: 'web',
      nofile: 65536,
      readonlyRootfs: true,
      oomScoreAdj: 500,
      annotations: { 'shoal.dev/workload': 'web' },
      mounts: [{ destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: ['rbind', 'ro'] }],
    });
    assert.equal(s.linux.cgroupsPath, '/shoal/pods/web-0');
    assert.equal(s.hostname, 'web');
    assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 65536, soft: 65536 }]);
    assert.equal(s.root.readonly, true);
    assert.equal(s.process.oomScoreAdj, 500);
    assert.deepEqual(s.annotations, { 'shoal.dev/workload': 'web' });
    assert.equal(s.mounts.at(-1)?.destination, '/etc/resolv.conf');
    assert.throws(() => spec({ id: '../etc' }), /invalid container id/);
  });

  it('wraps the spec as the Any containerd expects (JSON under the runtime-spec type URL)', () => {
    const s = spec();
    const any = encodeSpec(s);
    assert.equal(any.typeUrl, 'types.containerd.io/opencontainers/runtime-spec/1/Spec');
    assert.equal(ociSpecTypeUrl, any.typeUrl);
    assert.deepEqual(JSON.parse(any.value.toString('utf8')), s);
    const record: ContainerRecord = { id: 'web-0', labels: {}, image: '', runtime: { name: 'io.containerd.runc.v2' }, spec: any, snapshotter: '', snapshotKey: '', extensions: {} };
    assert.deepEqual(decodeSpec(record), s);
  });

  it('detects cgroup v1 (with/without swap accounting) and v2 from the filesystem', async () => {
    const root = await mkdtemp(join(tmpdir(), 'shoal-cgroup-'));
    try {
      assert.deepEqual(await detectCgroup(root), { version: 1, swapLimit: false });
      await mkdir(join(root, 'memory'));
      await writeFile(join(root, 'memory', 'memory.memsw.limit_in_bytes'), '');
      assert.deepEqual(await detectCgroup(root), { version: 1, swapLimit: true });
      await writeFile(join(root, 'cgroup.controllers'), 'cpu memory pids\n');
      assert.deepEqual(await detectCgroup(root), { version: 2, swapLimit: true });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
