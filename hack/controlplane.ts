// A real etcd + kube-apiserver on loopback, started the way controller-runtime's envtest does it,
// but with token authentication, RBAC and a service-account issuer so TokenRequest works.
// Used by the integration tests (test/integration/fixture.ts) and by `make up` (hack/cluster.ts).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { createLogger, type Logger } from '../operator/src/runtime/log.ts';
import { binaries, type Binaries } from './binaries.ts';

/** A user of the static token file. Names and groups must not contain commas or quotes. */
export interface ControlPlaneUser {
  name: string;
  groups?: string[];
}

export interface ControlPlaneOptions {
  /** Working directory for data, certs, logs, pid files and kubeconfigs; created if missing. */
  dir: string;
  logger?: Logger;
  /** Users besides the built-in `admin` (system:masters) and `alice` (no groups). */
  extraUsers?: ControlPlaneUser[];
  /** Appended to every kube-apiserver command line, e.g. `--etcd-compaction-interval=0`. */
  extraApiserverFlags?: string[];
  /** Deadline for each process to become healthy; default 90 s. */
  startTimeoutMs?: number;
  /** Binary locations; default `binaries()`. */
  binaries?: Binaries;
  /**
   * On SIGINT/SIGTERM/SIGHUP SIGKILL the children, then re-raise the signal if nobody else listens.
   * Default true; a supervisor that shuts down gracefully on signals passes false.
   */
  killOnSignals?: boolean;
}

export interface ExtraApiserver {
  server: string;
  kubeconfigPath: string;
  stop(): Promise<void>;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  input?: string;
  /** Token-file user whose kubeconfig is used; default `admin`. */
  user?: string;
  env?: Record<string, string>;
  /** Kill kubectl after this long; default 120 s. */
  timeoutMs?: number;
}

const defaultUsers: ControlPlaneUser[] = [
  { name: 'admin', groups: ['system:masters'] },
  { name: 'alice' },
];

// ---------------------------------------------------------------------------------------------
// Child processes: each in its own process group, tracked so a crashing parent leaves nothing.

const liveGroups = new Set<number>();
let exitHookInstalled = false;
let signalHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  });
}

function installSignalHook(): void {
  if (signalHookInstalled) return;
  signalHookInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
      liveGroups.clear();
      process.removeListener(signal, handler);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Reads the last `lines` lines of a log file (best effort). */
export function tailFile(path: string, lines = 30): string {
  try {
    const size = statSync(path).size;
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, buf, 0, length, size - length);
    } finally {
      closeSync(fd);
    }
    return buf.toString('utf8').split('\n').slice(-lines - 1).join('\n').trimEnd();
  } catch {
    return '(no log)';
  }
}

/** A child process in its own process group, with its output in a log file and its pid in a pid file. */
export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  readonly pidPath: string;
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | undefined;

  private constructor(name: string, child: ChildProcess, logPath: string, pidPath: string) {
    this.name = name;
    this.logPath = logPath;
    this.pidPath = pidPath;
    if (child.pid === undefined) throw new Error(`failed to spawn ${name}`);
    this.pid = child.pid;
    this.exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        liveGroups.delete(this.pid);
        resolveExit(this.exitInfo);
      });
    });
  }

  static async spawn(
    name: string,
    command: string,
    args: string[],
    logPath: string,
    pidPath: string,
    options: { env?: Record<string, string>; cwd?: string } = {},
  ): Promise<ManagedProcess> {
    installExitHook();
    const fd = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...options.env }, cwd: options.cwd });
    } finally {
      closeSync(fd);
    }
    // A spawn failure (ENOENT, EACCES) is reported asynchronously: surface it as an exception.
    await new Promise<void>((resolveSpawn, rejectSpawn) => {
      child.once('spawn', resolveSpawn);
      child.once('error', (err) => rejectSpawn(new Error(`cannot start ${name} (${command}): ${err.message}`)));
    });
    child.unref();
    const proc = new ManagedProcess(name, child, logPath, pidPath);
    liveGroups.add(proc.pid);
    writeFileSync(pidPath, `${proc.pid}\n`);
    return proc;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  describeExit(): string {
    const info = this.exitInfo;
    if (!info) return 'running';
    return info.signal ? `killed by ${info.signal}` : `exited with code ${info.code}`;
  }

  /** SIGTERM the process group, SIGKILL it after `graceMs`, wait for exit and remove the pid file. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.running) {
      killGroup(this.pid, 'SIGTERM');
      const abort = new AbortController();
      const timer = sleep(graceMs, 'timeout' as const, { signal: abort.signal }).catch(() => 'exited' as const);
      const outcome = await Promise.race([this.exited, timer]);
      abort.abort();
      if (outcome === 'timeout') killGroup(this.pid, 'SIGKILL');
      await this.exited;
    }
    // Stragglers that the leader may have forked into its group.
    killGroup(this.pid, 'SIGKILL');
    liveGroups.delete(this.pid);
    rmSync(this.pidPath, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/** Asks the kernel for a free loopback TCP port (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(0, '127.0.0.1', resolveListen);
  });
  const address = server.address();
  await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  if (address === null || typeof address === 'string') throw new Error('could not allocate a port');
  return address.port;
}

interface HttpResponse {
  status: number;
  body: string;
}

function httpRequest(
  url: string,
  options: { method?: string; ca?: string; token?: string; body?: string; timeoutMs?: number; insecure?: boolean } = {},
): Promise<HttpResponse> {
  const target = new URL(url);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolveRequest, rejectRequest) => {
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolveRequest({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', rejectRequest);
    };
    const common = { method: options.method ?? 'GET', headers, agent: false as const, timeout: options.timeoutMs ?? 5000 };
    const req =
      target.protocol === 'https:'
        ? https.request(target, { ...common, ca: options.ca, rejectUnauthorized: !options.insecure }, onResponse)
        : http.request(target, common, onResponse);
    req.on('timeout', () => req.destroy(new Error(`timeout requesting ${url}`)));
    req.on('error', rejectRequest);
    req.end(options.body);
  });
}

function checkUser(user: ControlPlaneUser): void {
  for (const value of [user.name, ...(user.groups ?? [])]) {
    if (!value || /[,"\n]/.test(value)) throw new Error(`invalid token-file user or group ${JSON.stringify(value)}`);
  }
}

function safeFileName(user: string): string {
  return user.replace(/[^A-Za-z0-9._-]/g, '_');
}

// ---------------------------------------------------------------------------------------------

export class ControlPlane {
  readonly dir: string;
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly etcdUrl: string;
  readonly port: number;
  private ca = '';

  private readonly logger: Logger;
  private readonly bins: Binaries;
  private readonly startTimeoutMs: number;
  private readonly users: Map<string, { token: string; groups: string[] }>;
  private readonly extraFlags: string[];
  private etcd: ManagedProcess | undefined;
  private apiserver: ManagedProcess | undefined;
  private readonly extras = new Set<ManagedProcess>();
  private extraCounter = 0;
  private insecure = false;
  private stopping: Promise<void> | undefined;

  private constructor(init: {
    dir: string;
    logger: Logger;
    bins: Binaries;
    startTimeoutMs: number;
    users: Map<string, { token: string; groups: string[] }>;
    extraFlags: string[];
    port: number;
    etcdUrl: string;
  }) {
    this.dir = init.dir;
    this.logger = init.logger;
    this.bins = init.bins;
    this.startTimeoutMs = init.startTimeoutMs;
    this.users = init.users;
    this.extraFlags = init.extraFlags;
    this.port = init.port;
    this.server = `https://127.0.0.1:${init.port}`;
    this.etcdUrl = init.etcdUrl;
    this.kubeconfigPath = join(init.dir, 'kubeconfig');
  }

  /** Starts etcd and kube-apiserver in `options.dir` and waits until both are ready. */
  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    const began = performance.now();
    const dir = resolve(options.dir);
    const logger = options.logger ?? createLogger({ component: 'controlplane' });
    const bins = options.binaries ?? binaries();
    if (options.killOnSignals !== false) installSignalHook();
    await mkdir(join(dir, 'certs'), { recursive: true });

    const users = new Map<string, { token: string; groups: string[] }>();
    for (const user of [...defaultUsers, ...(options.extraUsers ?? [])]) {
      checkUser(user);
      users.set(user.name, { token: randomBytes(24).toString('hex'), groups: user.groups ?? [] });
    }
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const cp = new ControlPlane({
      dir,
      logger,
      bins,
      startTimeoutMs: options.startTimeoutMs ?? 90_000,
      users,
      extraFlags: options.extraApiserverFlags ?? [],
      port: apiPort,
      etcdUrl: `http://127.0.0.1:${etcdPort}`,
    });
    try {
      await cp.writeStaticFiles();
      await cp.startEtcd(peerPort);
      const etcdMs = Math.round(performance.now() - began);
      await cp.startApiserver();
      cp.writeKubeconfigs();
      logger.info('control plane ready', {
        dir,
        server: cp.server,
        etcd: cp.etcdUrl,
        kubeconfig: cp.kubeconfigPath,
        etcdMs,
        totalMs: Math.round(performance.now() - began),
      });
      return cp;
    } catch (err) {
      await cp.stop();
      throw err;
    }
  }

  /** Path to a kubeconfig that authenticates as the given token-file user. */
  kubeconfigFor(user: 'admin' | string): string {
    if (!this.users.has(user)) {
      throw new Error(`unknown control-plane user ${JSON.stringify(user)}; known: ${[...this.users.keys()].join(', ')} (add it with extraUsers)`);
    }
    return user === 'admin' ? this.kubeconfigPath : join(this.dir, `kubeconfig-${safeFileName(user)}`);
  }

  /** PEM bundle (serving cert + its self-signed CA) that verifies the apiserver; '' before the first start. */
  get caPem(): string {
    return this.ca;
  }

  /** Bearer token of a token-file user. */
  tokenFor(user: 'admin' | string): string {
    const entry = this.users.get(user);
    if (!entry) throw new Error(`unknown control-plane user ${JSON.stringify(user)}`);
    return entry.token;
  }

  /** Pids of the running etcd and apiserver processes (process-group leaders). */
  pids(): number[] {
    return [this.etcd, this.apiserver, ...this.extras].filter((p): p is ManagedProcess => p?.running === true).map((p) => p.pid);
  }

  /** SIGTERM the apiserver and wait for it to exit (SIGKILL after 10 s). etcd keeps running. */
  async stopApiserver(): Promise<void> {
    const proc = this.apiserver;
    this.apiserver = undefined;
    if (proc) {
      await proc.stop();
      this.logger.info('kube-apiserver stopped', { pid: proc.pid, exit: proc.describeExit() });
    }
  }

  /** (Re)starts the apiserver on the same port with the same certs and flags; waits for /readyz. */
  async startApiserver(): Promise<void> {
    if (this.apiserver?.running) return;
    if (!this.etcd?.running) throw new Error('etcd is not running');
    const began = performance.now();
    const proc = await ManagedProcess.spawn(
      'kube-apiserver',
      this.bins.kubeApiserver,
      this.apiserverArgs(this.port, []),
      join(this.dir, 'kube-apiserver.log'),
      join(this.dir, 'kube-apiserver.pid'),
    );
    this.apiserver = proc;
    try {
      await this.waitApiserverReady(proc, this.server);
    } catch (err) {
      this.apiserver = undefined;
      await proc.stop();
      throw err;
    }
    this.logger.info('kube-apiserver ready', { pid: proc.pid, server: this.server, ms: Math.round(performance.now() - began) });
  }

  /**
   * Starts another apiserver on the same etcd (new port, same certs, tokens and issuer), e.g. to
   * change state while the main one is down. Its kubeconfig authenticates as `admin`.
   */
  async startExtraApiserver(): Promise<ExtraApiserver> {
    if (!this.etcd?.running) throw new Error('etcd is not running');
    const n = ++this.extraCounter;
    const port = await freePort();
    const server = `https://127.0.0.1:${port}`;
    const proc = await ManagedProcess.spawn(
      `kube-apiserver-extra-${n}`,
      this.bins.kubeApiserver,
      // Only the main apiserver maintains the `kubernetes` Service endpoints.
      this.apiserverArgs(port, ['--endpoint-reconciler-type=none']),
      join(this.dir, `kube-apiserver-extra-${n}.log`),
      join(this.dir, `kube-apiserver-extra-${n}.pid`),
    );
    this.extras.add(proc);
    try {
      await this.waitApiserverReady(proc, server);
    } catch (err) {
      this.extras.delete(proc);
      await proc.stop();
      throw err;
    }
    const kubeconfigPath = join(this.dir, `kubeconfig-extra-${n}`);
    writeFileSync(kubeconfigPath, this.kubeconfigYaml(server, 'admin'), { mode: 0o600 });
    this.logger.info('extra kube-apiserver ready', { pid: proc.pid, server });
    return {
      server,
      kubeconfigPath,
      stop: async () => {
        this.extras.delete(proc);
        await proc.stop();
        rmSync(kubeconfigPath, { force: true });
      },
    };
  }

  /** Runs the pinned kubectl against this control plane as `opts.user` (default admin). */
  kubectl(args: string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
    const kubeconfig = this.kubeconfigFor(opts.user ?? 'admin');
    return new Promise((resolveRun, rejectRun) => {
      execFile(
        this.bins.kubectl,
        ['--kubeconfig', kubeconfig, ...args],
        {
          env: { ...process.env, KUBECACHEDIR: join(this.dir, 'kubecache'), ...opts.env },
          timeout: opts.timeoutMs ?? 120_000,
          maxBuffer: 64 * 1024 * 1024,
          encoding: 'utf8',
        },
        (err, stdout, stderr) => {
          if (err && typeof err.code !== 'number') {
            if (err.killed) resolveRun({ code: -1, stdout, stderr: `${stderr}\nkubectl killed (${err.signal ?? 'timeout'})` });
            else rejectRun(err);
            return;
          }
          resolveRun({ code: err ? Number(err.code) : 0, stdout, stderr });
        },
      ).stdin?.end(opts.input ?? '');
    });
  }

  /**
   * Compacts etcd at its current revision (physically), so that watches from older
   * resourceVersions can no longer be served from etcd. Returns the compacted revision.
   */
  async compactEtcd(): Promise<number> {
    const range = await httpRequest(`${this.etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
    const revision = Number((JSON.parse(range.body) as { header?: { revision?: string } }).header?.revision);
    if (!Number.isFinite(revision) || revision <= 0) throw new Error(`cannot read etcd revision: ${range.status} ${range.body}`);
    const res = await httpRequest(`${this.etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(revision), physical: true }) });
    if (res.status !== 200) throw new Error(`etcd compaction failed: ${res.status} ${res.body}`);
    return revision;
  }

  /** Stops extra apiservers, the apiserver, then etcd. Idempotent; leaves no processes. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const extra of [...this.extras]) await extra.stop();
      this.extras.clear();
      await this.stopApiserver();
      const etcd = this.etcd;
      this.etcd = undefined;
      if (etcd) await etcd.stop();
      this.logger.info('control plane stopped', { dir: this.dir });
    })();
    return this.stopping;
  }

  // -------------------------------------------------------------------------------------------

  private get issuer(): string {
    return this.server;
  }

  private async writeStaticFiles(): Promise<void> {
    const saKey = join(this.dir, 'sa.key');
    const saPub = join(this.dir, 'sa.pub');
    if (!existsSync(saKey) || !existsSync(saPub)) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      await writeFile(saKey, privateKey, { mode: 0o600 });
      await writeFile(saPub, publicKey);
    }
    const lines = [...this.users].map(([name, { token, groups }]) =>
      [token, name, `uid-${name}`, ...(groups.length ? [`"${groups.join(',')}"`] : [])].join(','),
    );
    await writeFile(join(this.dir, 'tokens.csv'), lines.join('\n') + '\n', { mode: 0o600 });
  }

  private async startEtcd(peerPort: number): Promise<void> {
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const args = [
      '--name=shoal',
      `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=${this.etcdUrl}`,
      `--advertise-client-urls=${this.etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=shoal=${peerUrl}`,
    ];
    if (await etcdHasUnsafeNoFsync(this.bins.etcd)) args.push('--unsafe-no-fsync=true');
    const proc = await ManagedProcess.spawn('etcd', this.bins.etcd, args, join(this.dir, 'etcd.log'), join(this.dir, 'etcd.pid'));
    this.etcd = proc;
    await this.waitUntil(proc, `etcd at ${this.etcdUrl}`, async () => {
      const res = await httpRequest(`${this.etcdUrl}/health`);
      return res.status === 200 && (JSON.parse(res.body) as { health?: string }).health === 'true';
    });
  }

  private apiserverArgs(port: number, extra: string[]): string[] {
    return [
      `--etcd-servers=${this.etcdUrl}`,
      `--cert-dir=${join(this.dir, 'certs')}`,
      `--secure-port=${port}`,
      '--bind-address=127.0.0.1',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--disable-admission-plugins=ServiceAccount',
      '--authorization-mode=RBAC',
      `--token-auth-file=${join(this.dir, 'tokens.csv')}`,
      `--service-account-issuer=${this.issuer}`,
      `--service-account-key-file=${join(this.dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(this.dir, 'sa.key')}`,
      `--api-audiences=${this.issuer}`,
      '--profiling=false',
      ...extra,
      ...this.extraFlags,
    ];
  }

  /** Waits for the self-signed serving cert, checks it covers 127.0.0.1, then waits for /readyz and the default namespace. */
  private async waitApiserverReady(proc: ManagedProcess, server: string): Promise<void> {
    const token = this.tokenFor('admin');
    const certPath = join(this.dir, 'certs', 'apiserver.crt');
    await this.waitUntil(proc, `kube-apiserver at ${server}`, async () => {
      if (!this.ca) {
        if (!existsSync(certPath)) return false;
        const pem = readFileSync(certPath, 'utf8');
        if (!pem.includes('-----END CERTIFICATE-----')) return false;
        const leaf = new X509Certificate(pem);
        if (leaf.checkIP('127.0.0.1') === undefined) {
          this.insecure = true;
          this.logger.warn('apiserver serving cert does not cover 127.0.0.1; kubeconfigs skip TLS verification', { cert: certPath, san: leaf.subjectAltName });
        }
        this.ca = pem;
      }
      const ready = await httpRequest(`${server}/readyz`, { ca: this.caPem, token, insecure: this.insecure });
      if (ready.status !== 200) return false;
      // The bootstrap controller creates these shortly after /readyz; tests create objects in them.
      for (const ns of ['default', 'kube-system']) {
        const res = await httpRequest(`${server}/api/v1/namespaces/${ns}`, { ca: this.caPem, token, insecure: this.insecure });
        if (res.status !== 200) return false;
      }
      return true;
    });
  }

  /** Polls `probe` until it returns true; fails early if the process exits, and on the deadline, with the log tail. */
  private async waitUntil(proc: ManagedProcess, what: string, probe: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs;
    let lastError = '';
    for (;;) {
      if (!proc.running) {
        throw new Error(`${what}: ${proc.name} ${proc.describeExit()} before becoming ready; last lines of ${proc.logPath}:\n${tailFile(proc.logPath)}`);
      }
      try {
        if (await probe()) return;
        lastError = 'not ready yet';
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) {
        throw new Error(`${what} not ready after ${this.startTimeoutMs} ms (${lastError}); last lines of ${proc.logPath}:\n${tailFile(proc.logPath)}`);
      }
      await sleep(100);
    }
  }

  private kubeconfigYaml(server: string, user: string): string {
    const cluster = this.insecure
      ? { server, 'insecure-skip-tls-verify': true }
      : { server, 'certificate-authority-data': Buffer.from(this.ca).toString('base64') };
    const context = user === 'admin' ? 'shoal' : `shoal-${user}`;
    return YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'shoal', cluster }],
      users: [{ name: user, user: { token: this.tokenFor(user) } }],
      contexts: [{ name: context, context: { cluster: 'shoal', user } }],
      'current-context': context,
    });
  }

  private writeKubeconfigs(): void {
    for (const user of this.users.keys()) {
      writeFileSync(this.kubeconfigFor(user), this.kubeconfigYaml(this.server, user), { mode: 0o600 });
    }
  }
}

const fsyncSupport = new Map<string, Promise<boolean>>();

/** `--unsafe-no-fsync` exists from etcd 3.5; detect it like envtest does. */
function etcdHasUnsafeNoFsync(etcd: string): Promise<boolean> {
  let cached = fsyncSupport.get(etcd);
  if (!cached) {
    cached = new Promise((resolveHelp) => {
      execFile(etcd, ['--help'], { encoding: 'utf8', timeout: 10_000 }, (_err, stdout, stderr) =>
        resolveHelp(`${stdout}${stderr}`.includes('--unsafe-no-fsync')),
      );
    });
    fsyncSupport.set(etcd, cached);
  }
  return cached;
}

/**
 * Applies every YAML file in `crdDir` (server-side, so large schemas fit) and waits until each
 * CustomResourceDefinition is Established. Returns the CRD names; [] when the folder has no YAML.
 * `kustomization.yaml` is skipped.
 */
export async function installCRDs(cp: ControlPlane, crdDir: string, timeoutMs = 60_000): Promise<string[]> {
  let files: string[];
  try {
    files = (await readdir(crdDir))
      .filter((f) => /\.ya?ml$/.test(f) && !/^kustomization\.ya?ml$/.test(f))
      .sort()
      .map((f) => join(crdDir, f));
  } catch {
    return [];
  }
  if (files.length === 0) return [];
  const apply = await cp.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=shoal-hack', '-o', 'name', ...files.flatMap((f) => ['-f', f])]);
  if (apply.code !== 0) throw new Error(`kubectl apply of ${crdDir} failed (exit ${apply.code}): ${apply.stderr || apply.stdout}`);
  const crds = apply.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('customresourcedefinition.apiextensions.k8s.io/'));
  if (crds.length > 0) {
    const wait = await cp.kubectl(['wait', '--for=condition=Established', `--timeout=${Math.ceil(timeoutMs / 1000)}s`, ...crds]);
    if (wait.code !== 0) throw new Error(`CRDs not Established: ${wait.stderr || wait.stdout}`);
  }
  return crds.map((l) => l.slice(l.indexOf('/') + 1));
}
