// Client side of berthd's admin socket (src/daemon/admin.ts).
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { globals } from './common.js';

/** --admin-socket, else admin.sock beside the runtime endpoint's socket. */
export function adminSocket(cmd: Command): string {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const o = c.opts();
    if (o.adminSocket) return o.adminSocket as string;
  }
  const ep = globals(cmd).runtimeEndpoint.replace(/^unix:\/\//, '');
  return join(dirname(ep), 'admin.sock');
}

export function adminCall(socketPath: string, method: 'GET' | 'POST', path: string, payload?: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ socketPath, path, method, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let out: Record<string, unknown>;
        try {
          out = JSON.parse(text) as Record<string, unknown>;
        } catch {
          reject(new Error(`admin socket ${socketPath}: unexpected answer ${res.statusCode}`));
          return;
        }
        if (res.statusCode !== 200) reject(new Error(String(out.error ?? `status ${res.statusCode}`)));
        else resolvePromise(out);
      });
    });
    req.on('error', (err) => reject(new Error(`cannot reach berthd's admin socket ${socketPath}: ${err.message}`)));
    req.end(payload === undefined ? undefined : JSON.stringify(payload));
  });
}
