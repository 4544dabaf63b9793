// A real containerd (Debian's 1.6.x, CRI plugin on) for the node agent's tests and `make up`,
// started the way hack/controlplane.ts starts etcd: own config, own dirs, own socket, own process
// group. Several instances run side by side (distinct sockets, roots, states, opt dirs, runc roots),
// optionally each in its own network namespace ("host") joined to this machine by a veth pair.
//
// Nothing here talks to /run/containerd/containerd.sock or /etc/containerd. One unavoidable shared
// path: containerd 1.6 puts shim sockets in /run/containerd/s/<sha256(address, namespace, id)>, so
// they never collide between instances, and each shim removes its own socket when it exits.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, statfs, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, type Logger } from '../operator/src/runtime/log.ts';
import { ManagedProcess, tailFile } from './controlplane.ts';

/** The socket path must fit in sockaddr_un (108 bytes); we keep a margin. */
export const maxSocketPathLength = 100;

export type Snapshotter = 'overlayfs' | 'native';

export interface ContainerdOptions {
  /**
   * Working directory (created if missing). Holds config.toml, root/, state/, certs.d/, the socket,
   * the log and the pid file. Keep it short (e.g. a `mkdtemp('/tmp/shoal-ctd-')`): the socket path
   * `<dir>/containerd.sock` must stay under 100 characters.
   */
  dir: string;
  logger?: Logger;
  /** Name used in logs and process names; default `containerd`. */
  name?: string;
  /**
   * Run the daemon in this named network namespace (`/run/netns/<name>`). If it does not exist it is
   * created with `createNetns` (a free 10.231.x.y/30 is allocated) and deleted again by stop().
   */
  netns?: string;
  /** Default: overlayfs when an overlay mount works in `dir`, else native (see `probeSnapshotter`). */
  snapshotter?: Snapshotter;
  /** Deadline for the daemon (and its CRI service) to become ready; default 60 s. */
  startTimeoutMs?: number;
  /** containerd log level; default `info`. */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /**
   * Misconfigurations a real node may have, for the mirror's config check: `noConfigPath` leaves CRI's
   * registry `config_path` unset (hosts.toml is never read), `discardUnpackedLayers` drops compressed layers
   * after unpacking. Default: neither.
   */
  misconfigure?: { noConfigPath?: boolean; discardUnpackedLayers?: boolean };
}

export interface ContainerdVersion {
  version: string;
  revision: string;
}

// ---------------------------------------------------------------------------------------------
// Small process helpers (ip, mount, umount: the harness may run system tools, never `ctr`).

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolveRun, rejectRun) => {
    execFile(command, args, { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, PATH: systemPath() } }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        if (err.killed) resolveRun({ code: -1, stdout, stderr: `${stderr}\n${command} killed (timeout)` });
        else rejectRun(new Error(`cannot run ${command}: ${err.message}`));
        return;
      }
      resolveRun({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

async function mustRun(command: string, args: string[]): Promise<string> {
  const res = await run(command, args);
  if (res.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${res.code}): ${res.stderr.trim() || res.stdout.trim()}`);
  return res.stdout;
}

/** PATH with the sbin directories (runc is /usr/sbin/runc; ip is /usr/sbin/ip on Debian). */
function systemPath(): string {
  const parts = (process.env['PATH'] ?? '').split(':').filter(Boolean);
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!parts.includes(dir)) parts.push(dir);
  }
  return parts.join(':');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------
// Mounts.

/** Decodes the octal escapes (`\040` etc.) that /proc/self/mountinfo uses for mount points. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points at or below `dir` (deepest first), from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    real = resolve(dir);
  }
  const roots = [...new Set([resolve(dir), real])];
  const found = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const mountPoint = unescapeMountPath(field);
    if (roots.some((root) => mountPoint === root || mountPoint.startsWith(root + '/'))) found.add(mountPoint);
  }
  return [...found].sort((a, b) => b.length - a.length);
}

/** Unmounts everything mounted at or below `dir` (`umount -R`, lazily if busy). Returns what it unmounted. */
export async function unmountUnder(dir: string): Promise<string[]> {
  const mounts = mountsUnder(dir);
  // Only the outermost mount points: `umount -R` takes their submounts with them.
  const tops = mounts.filter((m) => !mounts.some((other) => other !== m && m.startsWith(other + '/')));
  for (const mountPoint of tops) {
    const res = await run('umount', ['-R', mountPoint]);
    if (res.code !== 0 && mountsUnder(mountPoint).length > 0) await run('umount', ['-R', '-l', mountPoint]);
  }
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`mounts left under ${dir}: ${left.join(', ')}`);
  return mounts;
}

/**
 * Which snapshotter works in `dir`: mounts a one-layer overlay there (as containerd's own
 * `overlayutils.Supported` does). Overlay-on-overlay (a container whose / is overlayfs) fails on
 * most kernels, and so does a filesystem without d_type; then containerd would skip its overlayfs
 * plugin and every CRI pull would fail with "snapshotter not loaded", so we use `native` (full copies
 * per layer: slower and bigger, but works anywhere).
 */
export async function probeSnapshotter(dir: string): Promise<{ snapshotter: Snapshotter; reason: string }> {
  const fsType = (await statfs(dir)).type;
  if (fsType === 0x794c7630) return { snapshotter: 'native', reason: `${dir} is on overlayfs` };
  if (!readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.trim().endsWith('overlay'))) {
    return { snapshotter: 'native', reason: 'kernel has no overlay filesystem' };
  }
  const probe = join(dir, '.overlay-probe');
  rmSync(probe, { recursive: true, force: true });
  for (const sub of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(probe, sub), { recursive: true });
  writeFileSync(join(probe, 'lower', 'file'), 'x');
  try {
    const res = await run('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${join(probe, 'lower')},upperdir=${join(probe, 'upper')},workdir=${join(probe, 'work')}`,
      join(probe, 'merged'),
    ]);
    if (res.code !== 0) return { snapshotter: 'native', reason: `overlay mount failed: ${res.stderr.trim()}` };
    const ok = existsSync(join(probe, 'merged', 'file'));
    await run('umount', [join(probe, 'merged')]);
    return ok ? { snapshotter: 'overlayfs', reason: 'overlay mount works' } : { snapshotter: 'native', reason: 'overlay mount shows no lower files' };
  } finally {
    if (mountsUnder(probe).length > 0) await run('umount', ['-l', join(probe, 'merged')]);
    rmSync(probe, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Network namespaces: each one a test "host" with a veth pair to this machine.
//
// Addressing: every netns gets its own 10.231.x.y/30 (x in 1..254, y a multiple of 4): the host end
// of the veth is .y+1, the netns end .y+2. The netns routes 10.231.0.0/16 via the host end, and the
// host end has IPv4 forwarding on (per interface: `net.ipv4.conf.<veth>.forwarding`, never the global
// `ip_forward`), so netns hosts reach each other and the host reaches each of them; nothing else is
// routed. Blocks are claimed with O_EXCL files in /run/shoal-netblocks so concurrent test runs on one
// machine do not collide; a claim whose pid is gone is stale.

export const netnsPrefix = '10.231';
const claimDir = existsSync('/run') ? '/run/shoal-netblocks' : '/tmp/shoal-netblocks';

export interface Netns {
  name: string;
  /** The netns end of the veth (`eth0` inside): this "host"'s address. */
  ip: string;
  /** The host end of the veth; the netns's gateway for 10.231.0.0/16. */
  gateway: string;
  /** Host-side interface name. */
  hostInterface: string;
  /** For setns(2) / `nsenter --net=`. */
  path: string;
}

function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export function netnsExists(name: string): boolean {
  return existsSync(netnsPath(name));
}

function blockOf(ip: string): { x: number; y: number } {
  const m = /^10\.231\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  const x = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || x < 1 || x > 254 || last % 4 !== 2) {
    throw new Error(`netns address ${ip} must be 10.231.x.y with x in 1..254 and y = 4k+2 (the netns end of a /30)`);
  }
  return { x, y: last - 2 };
}

function claimPath(x: number, y: number): string {
  return join(claimDir, `${netnsPrefix}.${x}.${y}`);
}

/** Claims the /30 for `x.y` for this process; false if a live process holds it. */
function claimBlock(x: number, y: number, owner: string): boolean {
  mkdirSync(claimDir, { recursive: true });
  const path = claimPath(x, y);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid} ${owner}\n`, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(path, 'utf8').split(' ')[0]);
      if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) return false;
      rmSync(path, { force: true }); // stale claim of a dead process
    }
  }
  return false;
}

function releaseBlock(x: number, y: number): void {
  const path = claimPath(x, y);
  try {
    if (Number(readFileSync(path, 'utf8').split(' ')[0]) === process.pid) rmSync(path, { force: true });
  } catch {
    // not claimed
  }
}

async function addressesInUse(): Promise<Set<string>> {
  const out = await mustRun('ip', ['-o', '-4', 'addr', 'show']);
  const used = new Set<string>();
  for (const m of out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)) if (m[1]) used.add(m[1]);
  return used;
}

/** Picks and claims a free 10.231.x.y/30; returns the netns-end address (x.y+2). */
export async function allocateNetnsAddress(owner = 'shoal'): Promise<string> {
  const used = await addressesInUse();
  const start = Math.floor(Math.random() * 254);
  for (let i = 0; i < 254 * 64; i++) {
    const x = ((start + Math.floor(i / 64)) % 254) + 1;
    const y = (i % 64) * 4;
    if (used.has(`${netnsPrefix}.${x}.${y + 1}`) || used.has(`${netnsPrefix}.${x}.${y + 2}`)) continue;
    if (claimBlock(x, y, owner)) return `${netnsPrefix}.${x}.${y + 2}`;
  }
  throw new Error('no free 10.231.x.y/30 left');
}

function hostInterfaceName(x: number, y: number): string {
  return `shoal${x}-${y}`; // ≤ 12 characters (IFNAMSIZ is 16 with the NUL)
}

const ownedNetns = new Map<string, Netns>();

/**
 * Creates network namespace `name` with a veth pair to this machine: `eth0` inside has `ip`
 * (10.231.x.(4k+2)/30; allocated when omitted), the host end has the .(4k+1) address. Loopback is up
 * inside, so daemons there can listen on 127.0.0.1 too. Fails if the netns exists.
 */
export async function createNetns(name: string, ip?: string): Promise<Netns> {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new Error(`invalid netns name ${JSON.stringify(name)}`);
  if (netnsExists(name)) throw new Error(`network namespace ${name} already exists`);
  const address = ip ?? (await allocateNetnsAddress(name));
  const { x, y } = blockOf(address);
  if (ip !== undefined && !claimBlock(x, y, name)) throw new Error(`${ip}/30 is claimed by another live process (${claimPath(x, y)})`);
  const gateway = `${netnsPrefix}.${x}.${y + 1}`;
  const hostInterface = hostInterfaceName(x, y);
  const peer = `${hostInterface}p`;
  const netns: Netns = { name, ip: address, gateway, hostInterface, path: netnsPath(name) };
  installExitHook();
  try {
    await mustRun('ip', ['netns', 'add', name]);
    await mustRun('ip', ['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', peer]);
    await mustRun('ip', ['link', 'set', peer, 'netns', name]);
    await mustRun('ip', ['-n', name, 'link', 'set', peer, 'name', 'eth0']);
    await mustRun('ip', ['-n', name, 'addr', 'add', `${address}/30`, 'dev', 'eth0']);
    await mustRun('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    await mustRun('ip', ['-n', name, 'link', 'set', 'eth0', 'up']);
    await mustRun('ip', ['addr', 'add', `${gateway}/30`, 'dev', hostInterface]);
    await mustRun('ip', ['link', 'set', hostInterface, 'up']);
    await mustRun('ip', ['-n', name, 'route', 'add', `${netnsPrefix}.0.0/16`, 'via', gateway]);
    // Forward between our veths only (IPv4 forwarding is decided by the ingress interface).
    writeFileSync(`/proc/sys/net/ipv4/conf/${hostInterface}/forwarding`, '1');
  } catch (err) {
    await removeNetns(netns).catch(() => undefined);
    releaseBlock(x, y);
    throw err;
  }
  ownedNetns.set(name, netns);
  return netns;
}

async function removeNetns(netns: Netns): Promise<void> {
  // Deleting the netns destroys eth0 inside, and with it the host end of the pair.
  if (netnsExists(netns.name)) await run('ip', ['netns', 'delete', netns.name]);
  const res = await run('ip', ['link', 'show', netns.hostInterface]);
  if (res.code === 0) await run('ip', ['link', 'delete', netns.hostInterface]);
}

/** Deletes a netns made by `createNetns` (its veth pair goes with it) and releases its /30. Idempotent. */
export async function deleteNetns(name: string): Promise<void> {
  const netns = ownedNetns.get(name);
  if (netns) {
    await removeNetns(netns);
    const { x, y } = blockOf(netns.ip);
    releaseBlock(x, y);
    ownedNetns.delete(name);
  } else if (netnsExists(name)) {
    await run('ip', ['netns', 'delete', name]);
  }
  if (netnsExists(name)) throw new Error(`network namespace ${name} still exists after delete`);
}

/** Names of the network namespaces that exist (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const out = await mustRun('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(' ')[0] ?? '')
    .filter(Boolean);
}

// ---------------------------------------------------------------------------------------------
// A minimal unary gRPC client over node:http2, for readiness probes without .proto files.

export interface GrpcReply {
  status: number;
  message: string;
  body: Buffer;
}

/** One unary gRPC call over containerd's unix socket; `request` is the serialized protobuf message. */
export function grpcUnary(
  socketPath: string,
  method: string,
  request: Buffer = Buffer.alloc(0),
  options: { metadata?: Record<string, string>; timeoutMs?: number } = {},
): Promise<GrpcReply> {
  return new Promise((resolveCall, rejectCall) => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
    const timer = setTimeout(() => {
      session.destroy();
      rejectCall(new Error(`gRPC ${method} timed out`));
    }, options.timeoutMs ?? 5000);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      session.destroy();
      rejectCall(err);
    };
    session.on('error', fail);
    const req = session.request({
      ':method': 'POST',
      ':path': method,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...options.metadata,
    });
    let status: number | undefined;
    let message = '';
    const take = (headers: http2.IncomingHttpHeaders): void => {
      if (headers['grpc-status'] !== undefined) status = Number(headers['grpc-status']);
      if (typeof headers['grpc-message'] === 'string') message = decodeURIComponent(headers['grpc-message']);
    };
    const chunks: Buffer[] = [];
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', fail);
    req.on('end', () => {
      clearTimeout(timer);
      session.close();
      const data = Buffer.concat(chunks);
      const body = data.length >= 5 ? data.subarray(5, 5 + data.readUInt32BE(1)) : Buffer.alloc(0);
      resolveCall({ status: status ?? 2, message, body });
    });
    const frame = Buffer.alloc(5 + request.length);
    frame.writeUInt32BE(request.length, 1);
    request.copy(frame, 5);
    req.end(frame);
  });
}

/** The length-delimited fields (strings, bytes, messages) of a protobuf message, by field number. */
function protoStrings(buf: Buffer): Map<number, string> {
  const out = new Map<number, string>();
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = buf[pos++];
      if (byte === undefined) throw new Error('truncated protobuf');
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const wire = key & 7;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = varint();
      out.set(Math.floor(key / 8), buf.subarray(pos, pos + len).toString('utf8'));
      pos += len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Shims: containerd-shim-runc-v2 runs in its own process group (so it survives a containerd
// restart, like on a real node); stop() finds ours by `-address <our socket>` and kills them and
// everything below them (the containers' processes).

function readCmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Pids of the shims serving the containerd at `address`, plus all their descendants. */
export function shimProcesses(address: string): number[] {
  const pids = allPids();
  const roots = pids.filter((pid) => {
    const argv = readCmdline(pid);
    const i = argv.indexOf('-address');
    return (argv[0] ?? '').includes('containerd-shim') && i >= 0 && argv[i + 1] === address;
  });
  const children = new Map<number, number[]>();
  for (const pid of pids) {
    const ppid = parentOf(pid);
    if (ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out = new Set<number>();
  const queue = [...roots];
  while (queue.length > 0) {
    const pid = queue.pop() as number;
    if (out.has(pid)) continue;
    out.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return [...out];
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

const liveInstances = new Set<Containerd>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // ManagedProcess's own hook SIGKILLs the daemons' process groups; the shims live in groups of their
  // own, and the netns (with their veths) would outlive us too. Only synchronous calls work here.
  process.on('exit', () => {
    for (const instance of liveInstances) killAll(shimProcesses(instance.address));
    for (const netns of ownedNetns.values()) {
      try {
        execFileSync('ip', ['netns', 'delete', netns.name], { stdio: 'ignore', timeout: 5000 });
        const { x, y } = blockOf(netns.ip);
        releaseBlock(x, y);
      } catch {
        // best effort
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------

export class Containerd {
  readonly name: string;
  readonly dir: string;
  /** gRPC unix socket (the one the agent dials). */
  readonly address: string;
  readonly ttrpcAddress: string;
  readonly root: string;
  readonly state: string;
  /** `config_path` of the CRI registry config: `<certsDir>/<host:port>/hosts.toml`. */
  readonly certsDir: string;
  /** runc's `--root` (the runtime option `Root`); pass it as the runc v2 option when creating tasks. */
  readonly runcRoot: string;
  readonly configPath: string;
  readonly logPath: string;
  /** The namespace CRI uses; images it pulls and containers it creates live here. */
  readonly namespace = 'k8s.io';
  readonly snapshotter: Snapshotter;
  /** The network namespace the daemon runs in, if any. */
  readonly netns: Netns | undefined;

  private readonly logger: Logger;
  private readonly startTimeoutMs: number;
  private readonly misconfigure: { noConfigPath?: boolean; discardUnpackedLayers?: boolean };
  private readonly ownsNetns: boolean;
  private readonly netnsName: string | undefined;
  private proc: ManagedProcess | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(init: {
    name: string;
    dir: string;
    logger: Logger;
    startTimeoutMs: number;
    snapshotter: Snapshotter;
    netns: Netns | undefined;
    netnsName: string | undefined;
    ownsNetns: boolean;
    misconfigure?: { noConfigPath?: boolean; discardUnpackedLayers?: boolean };
  }) {
    this.misconfigure = init.misconfigure ?? {};
    this.name = init.name;
    this.dir = init.dir;
    this.logger = init.logger;
    this.startTimeoutMs = init.startTimeoutMs;
    this.snapshotter = init.snapshotter;
    this.netns = init.netns;
    this.netnsName = init.netnsName;
    this.ownsNetns = init.ownsNetns;
    this.address = join(init.dir, 'containerd.sock');
    this.ttrpcAddress = join(init.dir, 'containerd.sock.ttrpc');
    this.root = join(init.dir, 'root');
    this.state = join(init.dir, 'state');
    this.certsDir = join(init.dir, 'certs.d');
    this.runcRoot = join(init.dir, 'state', 'runc');
    this.configPath = join(init.dir, 'config.toml');
    this.logPath = join(init.dir, 'containerd.log');
  }

  /** Pid of the daemon (undefined while stopped). */
  get pid(): number | undefined {
    return this.proc?.running ? this.proc.pid : undefined;
  }

  /** Writes the config and starts containerd; resolves once it serves gRPC and its CRI service is initialized. */
  static async start(options: ContainerdOptions): Promise<Containerd> {
    const began = performance.now();
    const dir = resolve(options.dir);
    const name = options.name ?? 'containerd';
    const logger = options.logger ?? createLogger({ component: name });
    const socket = join(dir, 'containerd.sock.ttrpc');
    if (socket.length > maxSocketPathLength) {
      throw new Error(`containerd dir ${dir} is too long for a unix socket path (${socket.length} > ${maxSocketPathLength}); use a short dir such as mkdtemp('/tmp/shoal-ctd-')`);
    }
    await mkdir(dir, { recursive: true });
    const probe = options.snapshotter ? { snapshotter: options.snapshotter, reason: 'requested' } : await probeSnapshotter(dir);
    if (probe.snapshotter !== 'overlayfs') logger.warn('containerd uses the native snapshotter', { reason: probe.reason });

    let netns: Netns | undefined;
    let ownsNetns = false;
    if (options.netns !== undefined) {
      if (netnsExists(options.netns)) {
        netns = ownedNetns.get(options.netns);
      } else {
        netns = await createNetns(options.netns);
        ownsNetns = true;
      }
    }
    const ctd = new Containerd({
      name,
      dir,
      logger,
      startTimeoutMs: options.startTimeoutMs ?? 60_000,
      snapshotter: probe.snapshotter,
      netns,
      netnsName: options.netns,
      ownsNetns,
      ...(options.misconfigure ? { misconfigure: options.misconfigure } : {}),
    });
    installExitHook();
    liveInstances.add(ctd);
    try {
      for (const sub of [ctd.root, ctd.state, ctd.certsDir, join(dir, 'opt'), join(dir, 'tmp'), join(dir, 'cni', 'net.d'), join(dir, 'cni', 'bin')]) {
        await mkdir(sub, { recursive: true });
      }
      await writeFile(ctd.configPath, ctd.configToml(options.logLevel ?? 'info'));
      await ctd.launch();
      const version = await ctd.version();
      logger.info('containerd ready', {
        address: ctd.address,
        version: version.version,
        snapshotter: ctd.snapshotter,
        netns: netns?.name,
        ip: netns?.ip,
        pid: ctd.pid,
        ms: Math.round(performance.now() - began),
      });
      return ctd;
    } catch (err) {
      await ctd.stop();
      throw err;
    }
  }

  /** containerd's Version service. */
  async version(): Promise<ContainerdVersion> {
    const reply = await grpcUnary(this.address, '/containerd.services.version.v1.Version/Version');
    if (reply.status !== 0) throw new Error(`containerd Version failed: ${reply.status} ${reply.message}`);
    const fields = protoStrings(reply.body);
    return { version: fields.get(1) ?? '', revision: fields.get(2) ?? '' };
  }

  /** SIGTERM the daemon and start it again with the same config, socket and dirs (shims and containers keep running). */
  async restart(): Promise<void> {
    if (this.stopping) throw new Error('containerd is stopped');
    const began = performance.now();
    const proc = this.proc;
    this.proc = undefined;
    if (proc) await proc.stop();
    await this.launch();
    this.logger.info('containerd restarted', { pid: this.pid, ms: Math.round(performance.now() - began) });
  }

  /**
   * Stops the daemon and its shims (and their containers), unmounts whatever is left mounted under the
   * dir and deletes the netns if start() created it. Keeps the dir (logs, content). Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const proc = this.proc;
      this.proc = undefined;
      if (proc) await proc.stop();
      // Shims (own process groups) and their containers.
      for (let attempt = 0; attempt < 50; attempt++) {
        const pids = shimProcesses(this.address);
        if (pids.length === 0) break;
        killAll(pids);
        await sleep(100);
      }
      liveInstances.delete(this);
      const unmounted = await unmountUnder(this.dir);
      rmSync(this.address, { force: true });
      rmSync(this.ttrpcAddress, { force: true });
      if (this.ownsNetns && this.netnsName) await deleteNetns(this.netnsName);
      this.logger.info('containerd stopped', { dir: this.dir, unmounted: unmounted.length });
    })();
    return this.stopping;
  }

  // -------------------------------------------------------------------------------------------

  private async launch(): Promise<void> {
    // A socket file left by a killed daemon would make the connect probe pass too early.
    rmSync(this.address, { force: true });
    rmSync(this.ttrpcAddress, { force: true });
    const logOffset = existsSync(this.logPath) ? statSync(this.logPath).size : 0;
    const containerdArgs = ['--config', this.configPath];
    const [command, args] =
      this.netnsName !== undefined
        ? // nsenter switches only the network namespace. (`ip netns exec` would also unshare the mount
          // namespace and remount /sys, hiding the cgroup mounts runc needs and every mount from us.)
          ['nsenter', [`--net=${netnsPath(this.netnsName)}`, '--', 'containerd', ...containerdArgs]]
        : ['containerd', containerdArgs];
    const proc = await ManagedProcess.spawn(this.name, command, args, this.logPath, join(this.dir, 'containerd.pid'), {
      env: { PATH: systemPath(), TMPDIR: join(this.dir, 'tmp') },
    });
    this.proc = proc;
    try {
      await this.waitReady(proc, logOffset);
    } catch (err) {
      this.proc = undefined;
      await proc.stop();
      throw err;
    }
  }

  private logSince(offset: number): string {
    try {
      return readFileSync(this.logPath).subarray(offset).toString('utf8');
    } catch {
      return '';
    }
  }

  /** Boot log line, then socket connect, then a CRI call that fails until the CRI service is initialized. */
  private async waitReady(proc: ManagedProcess, logOffset: number): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs;
    let stage = 'boot log line';
    let lastError = '';
    for (;;) {
      if (!proc.running) {
        throw new Error(`containerd ${this.name} ${proc.describeExit()} before becoming ready; last lines of ${this.logPath}:\n${tailFile(this.logPath)}`);
      }
      try {
        const log = this.logSince(logOffset);
        const criFailure = /failed to load plugin io\.containerd\.grpc\.v1\.cri[^\n]*/.exec(log);
        if (criFailure) throw Object.assign(new Error(criFailure[0]), { fatal: true });
        if (log.includes('containerd successfully booted')) {
          stage = 'socket';
          await new Promise<void>((resolveConnect, rejectConnect) => {
            const socket = net.connect(this.address, () => {
              socket.end();
              resolveConnect();
            });
            socket.once('error', rejectConnect);
          });
          stage = 'CRI service';
          const status = await grpcUnary(this.address, '/runtime.v1.RuntimeService/Status');
          if (status.status === 0) return;
          lastError = `CRI Status: ${status.status} ${status.message}`;
        }
      } catch (err) {
        if ((err as { fatal?: boolean }).fatal) {
          throw new Error(`containerd ${this.name}: ${(err as Error).message}; last lines of ${this.logPath}:\n${tailFile(this.logPath)}`);
        }
        lastError = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `containerd ${this.name} not ready after ${this.startTimeoutMs} ms (waiting for ${stage}: ${lastError}); last lines of ${this.logPath}:\n${tailFile(this.logPath)}`,
        );
      }
      await sleep(50);
    }
  }

  private configToml(logLevel: string): string {
    const q = (s: string): string => JSON.stringify(s); // TOML basic strings accept JSON string escapes
    const cri = '[plugins."io.containerd.grpc.v1.cri"]';
    return `# Written by hack/containerd.ts for ${this.name}; regenerated on every start.
version = 2
root = ${q(this.root)}
state = ${q(this.state)}
temp = ${q(join(this.dir, 'tmp'))}
oom_score = 0
imports = []
# Nothing must be off: the snapshotters we do not use (aufs, btrfs, zfs, devmapper) skip themselves.
disabled_plugins = []
# Fail the start (rather than serve without CRI or without the snapshotter CRI pulls into).
required_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.${this.snapshotter}"]

[grpc]
  address = ${q(this.address)}
  tcp_address = ""
  uid = 0
  gid = 0

[ttrpc]
  address = ${q(this.ttrpcAddress)}
  uid = 0
  gid = 0

[debug]
  address = ""
  level = ${q(logLevel)}

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.monitor.v1.cgroups"]
    no_prometheus = true

  [plugins."io.containerd.internal.v1.opt"]
    path = ${q(join(this.dir, 'opt'))}

  ${cri}
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_tls_streaming = false
    # CNI netns bind mounts go under state/ instead of /var/run/netns.
    netns_mounts_under_state_dir = true
    # Irrelevant here: the agent does not create CRI pod sandboxes.
    sandbox_image = "registry.k8s.io/pause:3.6"

    ${cri.slice(0, -1)}.cni]
      # Empty dirs: CRI starts without CNI (it logs "no network config found" and reports
      # NetworkReady=false), image service and runtime status still serve.
      bin_dir = ${q(join(this.dir, 'cni', 'bin'))}
      conf_dir = ${q(join(this.dir, 'cni', 'net.d'))}

    ${cri.slice(0, -1)}.containerd]
      snapshotter = ${q(this.snapshotter)}
      default_runtime_name = "runc"
      # Keep the compressed layers after unpacking: the P2P mirror serves them to peers.
      discard_unpacked_layers = ${this.misconfigure.discardUnpackedLayers === true}

      ${cri.slice(0, -1)}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"

        ${cri.slice(0, -1)}.containerd.runtimes.runc.options]
          Root = ${q(this.runcRoot)}
          SystemdCgroup = false

    ${cri.slice(0, -1)}.registry]
${this.misconfigure.noConfigPath ? '      # config_path left unset on purpose (ContainerdOptions.misconfigure).\n' : `      config_path = ${q(this.certsDir)}\n`}`;
  }
}
