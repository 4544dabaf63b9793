// The agent's authenticated HTTPS logs endpoint (`kubectl shoal logs` reads it): bearer token → TokenReview →
// SubjectAccessReview, then the Workload's log file from this node, whole, tailed or followed.
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Workload } from '../../operator/src/api/generated/types.ts';
import type { Informer } from '../../operator/src/runtime/informer.ts';
import type { KubeApi } from '../../operator/src/runtime/kube.ts';
import type { Logger } from '../../operator/src/runtime/log.ts';
import { closeServer, parseBindAddress } from '../../operator/src/runtime/http.ts';
import { advertisedHost, hostAddresses } from '../node/host.ts';
import { LogsAuthorizer } from './authorizer.ts';
import { HttpError, statusBody } from './http-error.ts';
import { incarnationEnded, incarnationLogs, pickLog } from './log-files.ts';
import { parseLogsPath, parseLogsQuery, type LogsOptions, type LogsTarget } from './params.ts';
import { loadServingCert } from './serving-cert.ts';
import { streamFile } from './tail.ts';

export interface AgentEndpoint {
  url: string;
  caBundle: string;
}

export interface LogsServerOptions {
  /** `host:port`, `:port` (all interfaces) or `0` (disabled). */
  bindAddress: string;
  certFile?: string;
  keyFile?: string;
  stateDir: string;
  node: string;
  client: Pick<KubeApi, 'request'>;
  /** The agent's cache of the Workloads bound to this node. */
  workloads: Informer<Workload>;
  registry: Registry;
  logger: Logger;
}

export interface LogsServer {
  endpoint: AgentEndpoint;
  port: number;
  close(): Promise<void>;
}

/** Starts the endpoint; undefined when the bind address disables it. */
export async function startLogsServer(options: LogsServerOptions): Promise<LogsServer | undefined> {
  const bind = parseBindAddress(options.bindAddress);
  if (!bind) return undefined;
  const host = advertisedHost(bind.host);
  const tls = await loadServingCert({
    stateDir: options.stateDir,
    ...(options.certFile ? { certFile: options.certFile } : {}),
    ...(options.keyFile ? { keyFile: options.keyFile } : {}),
    hosts: [host, ...hostAddresses().map((a) => a.address)],
    commonName: `shoal-agent:${options.node}`,
    logger: options.logger,
  });
  const metrics = logsMetrics(options.registry);
  const authorizer = new LogsAuthorizer({ client: options.client, reviews: metrics.reviews });
  const streams = new Set<AbortController>();
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const stop = new AbortController();
    streams.add(stop);
    res.on('close', () => {
      stop.abort();
      streams.delete(stop);
    });
    void handle(req, res, stop.signal, { ...options, authorizer, metrics });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  options.logger.info('serving logs', { url, bind: options.bindAddress });
  return {
    endpoint: { url, caBundle: tls.caBundle },
    port,
    async close() {
      for (const stream of streams) stream.abort();
      await closeServer(server);
    },
  };
}

interface LogsMetrics {
  requests: Counter<'code'>;
  bytes: Counter;
  active: Gauge;
  reviews: Counter<'result'>;
}

function logsMetrics(registry: Registry): LogsMetrics {
  const registers = [registry];
  return {
    requests: new Counter({ name: 'shoal_agent_logs_requests_total', help: 'Requests to the logs endpoint by HTTP status code', labelNames: ['code'], registers }),
    bytes: new Counter({ name: 'shoal_agent_logs_bytes_total', help: 'Log bytes served by the logs endpoint', registers }),
    active: new Gauge({ name: 'shoal_agent_logs_active_streams', help: 'Log responses being streamed now (follows included)', registers }),
    reviews: new Counter({ name: 'shoal_agent_logs_auth_reviews_total', help: 'Authorization decisions of the logs endpoint: cached, or TokenReview/SubjectAccessReview results', labelNames: ['result'], registers }),
  };
}

interface Deps extends LogsServerOptions {
  authorizer: LogsAuthorizer;
  metrics: LogsMetrics;
}

async function handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal, deps: Deps): Promise<void> {
  const began = performance.now();
  const url = new URL(req.url ?? '/', 'https://agent.invalid');
  const fields: Record<string, unknown> = { path: url.pathname };
  let code = 200;
  let sent = 0;
  try {
    const target = parseLogsPath(url.pathname);
    if (!target) throw new HttpError(404, `no route for ${url.pathname}: GET /v1/logs/{namespace}/{name}`);
    if (req.method !== 'GET') throw new HttpError(405, `method ${req.method ?? ''} is not allowed: use GET`);
    fields['user'] = await deps.authorizer.authorize(bearerToken(req.headers.authorization), target);
    const options = parseLogsQuery(url.searchParams);
    Object.assign(fields, options);
    sent = await serveLogs(res, target, options, signal, deps);
  } catch (err) {
    code = err instanceof HttpError ? err.status : 500;
    if (code === 500) deps.logger.error('logs request failed', { ...fields, err });
    if (res.headersSent) {
      res.destroy(); // mid-stream: only a broken connection tells the client the body is incomplete
    } else {
      const body = JSON.stringify(statusBody(code, err instanceof HttpError ? err.message : `internal error: ${err instanceof Error ? err.message : String(err)}`));
      res.writeHead(code, { 'content-type': 'application/json', ...(code === 401 ? { 'www-authenticate': 'Bearer' } : {}) }).end(body + '\n');
    }
  }
  deps.metrics.requests.inc({ code: String(code) });
  deps.logger.info('logs request', { ...fields, code, bytes: sent, ms: Math.round(performance.now() - began), aborted: signal.aborted && code === 200 });
}

async function serveLogs(res: ServerResponse, target: LogsTarget, options: LogsOptions, signal: AbortSignal, deps: Deps): Promise<number> {
  if (!deps.workloads.synced) throw new HttpError(503, 'the agent has not synced its workload cache yet; retry shortly');
  const key = `${target.namespace}/${target.name}`;
  const workload = deps.workloads.get(key);
  if (!workload) throw new HttpError(404, `workload ${key} is not bound to node ${deps.node}`);
  const uid = workload.metadata.uid ?? '';
  const log = pickLog(await incarnationLogs(deps.stateDir, { ...target, uid }), options.previous);
  if (!log) throw new HttpError(404, options.previous ? `workload ${key} has no previous container on node ${deps.node}` : `workload ${key} has no logs yet: its container has not started`);
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.flushHeaders(); // a follow may wait long for its first byte; the client should know it succeeded
  deps.metrics.active.inc();
  try {
    const sent = await streamFile(log.path, {
      ...options,
      signal,
      ended: () => incarnationEnded(deps.workloads.get(key), uid, log),
      write: (chunk) => {
        deps.metrics.bytes.inc(chunk.length);
        return write(res, chunk, signal);
      },
    });
    res.end();
    return sent;
  } finally {
    deps.metrics.active.dec();
  }
}

function write(res: ServerResponse, chunk: Buffer, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || res.destroyed || res.write(chunk)) return resolve();
    const done = (): void => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
