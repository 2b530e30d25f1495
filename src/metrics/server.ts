// The Prometheus endpoint: GET /metrics on metrics.address, serving the
// registry in src/metrics/metrics.ts. Gauges that need fresh values (disk
// usage) are refreshed by the scrape hooks before each exposition.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export type ScrapeHook = () => Promise<void>;

export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`metrics address "${address}" is not HOST:PORT`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

export class MetricsServer {
  private constructor(private readonly server: Server) {}

  static async start(address: string, registry: Registry, hooks: ScrapeHook[] = []): Promise<MetricsServer> {
    const { host, port } = parseHostPort(address);
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      }
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
        return;
      }
      void (async () => {
        // A failing hook leaves its gauge at the last value; the scrape still answers.
        await Promise.all(hooks.map((h) => h().catch(() => undefined)));
        const body = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
      })().catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err instanceof Error ? err.message : String(err)}\n`);
      });
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new MetricsServer(server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
