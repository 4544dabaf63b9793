// Tiny HTTP servers for probes and metrics: each route returns a status code and a text body.
import { createServer } from 'node:http';
/** Parses `host:port`, `:port` (all interfaces) or `0` (disabled). */
export function parseBindAddress(address) {
    if (address === '0' || address === '')
        return undefined;
    const colon = address.lastIndexOf(':');
    const host = colon > 0 ? address.slice(0, colon).replace(/^\[|\]$/g, '') : '0.0.0.0';
    const port = Number(colon >= 0 ? address.slice(colon + 1) : address);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error(`invalid bind address ${JSON.stringify(address)}`);
    return { host, port };
}
export async function serve(address, routes) {
    const bind = parseBindAddress(address);
    if (!bind)
        return undefined;
    const server = createServer((req, res) => {
        const route = routes[new URL(req.url ?? '/', 'http://x').pathname];
        if (!route || (req.method !== 'GET' && req.method !== 'HEAD')) {
            res.writeHead(route ? 405 : 404, { 'content-type': 'text/plain' }).end(route ? 'method not allowed\n' : 'not found\n');
            return;
        }
        route().then(({ status, body, contentType }) => res.writeHead(status, { 'content-type': contentType ?? 'text/plain' }).end(req.method === 'HEAD' ? undefined : body), (err) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`));
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(bind.port, bind.host, () => resolve());
    });
    return { server, port: server.address().port };
}
/** A probe route: 200 "ok" when every check passes, else 500 listing the failures (like controller-runtime's healthz). */
export function probe(checks) {
    return async () => {
        const failures = Object.entries(checks).flatMap(([name, check]) => {
            const problem = check();
            return problem ? [`[-]${name} failed: ${problem}`] : [];
        });
        return failures.length ? { status: 500, body: failures.join('\n') + '\n' } : { status: 200, body: 'ok\n' };
    };
}
export function metricsRoute(registry) {
    return async () => ({ status: 200, body: await registry.metrics(), contentType: registry.contentType });
}
export function closeServer(server) {
    if (!server)
        return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
}
