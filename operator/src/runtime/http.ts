// Tiny HTTP servers for probes and metrics: each route returns a status code and a text body.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export type Check = () => string | undefined;
export type Route = () => Promise<{ status: number; body: string; contentType?: string }>;

/** Parses `host:port`, `:port` (all interfaces) or `0` (disabled). */
export function parseBindAddress(address: string): { host: string; port: number } | undefined {
  if (address === '0' || address === '') return undefined;
  const colon = address.lastIndexOf(':');
  const host = colon > 0 ? address.slice(0, colon).replace(/^\[|\]$/g, '') : '0.0.0.0';
  const port = Number(colon >= 0 ? address.slice(colon + 1) : address);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid bind address ${JSON.stringify(address)}`);
  return { host, port };
}

export async function serve(address: string, routes: Record<string, Route>): Promise<{ server: Server; port: number } | undefined> {
  const bind = parseBindAddress(address);
  if (!bind) return undefined;
  const server = createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://x').pathname];
    if (!route || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(route ? 405 : 404, { 'content-type': 'text/plain' }).end(route ? 'method not allowed\n' : 'not found\n');
      return;
    }
    route().then(
      ({ status, body, contentType }) => res.writeHead(status, { 'content-type': contentType ?? 'text/plain' }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** A probe route: 200 "ok" when every check passes, else 500 listing the failures (like controller-runtime's healthz). */
export function probe(checks: Record<string, Check>): Route {
  return async () => {
    const failures = Object.entries(checks).flatMap(([name, check]) => {
      const problem = check();
      return problem ? [`[-]${name} failed: ${problem}`] : [];
    });
    return failures.length ? { status: 500, body: failures.join('\n') + '\n' } : { status: 200, body: 'ok\n' };
  };
}

export function metricsRoute(registry: Registry): Route {
  return async () => ({ status: 200, body: await registry.metrics(), contentType: registry.contentType });
}

export function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
