// berthd's local admin socket, <daemon.state>/admin.sock (mode 0600, root
// only): operations that belong to this node's store but not to CRI, such as
// `berth image import/export`. Going through the daemon keeps one writer of
// the image store and lets it see imported images at once. JSON over HTTP:
//   POST /v1/images/import {file, name?} → {images: [{id, repoTags}]}
//   POST /v1/images/export {image, file} → {id}
//   GET  /v1/pulls → {pulls: [{image, startedMs, layers: [{digest, size, done, state}]}]}
// Paths are the daemon's: the CLI resolves them to absolute paths first.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import type { Logger } from '../log/logger.js';
import type { ImageService } from '../image/service.js';
import { BerthError, errorMessage, invalidArgument } from '../util/errors.js';

const HTTP_STATUS: Partial<Record<BerthError['kind'], number>> = { InvalidArgument: 400, NotFound: 404, FailedPrecondition: 409, ResourceExhausted: 507 };

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const c of req) {
    text += (c as Buffer).toString();
    if (text.length > 1 << 20) throw invalidArgument('request too large');
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw invalidArgument('request body must be JSON');
  }
}

function str(o: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = o[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || (required && !v)) throw invalidArgument(`field "${key}" must be a non-empty string`);
  if (key === 'file' && !v.startsWith('/')) throw invalidArgument(`field "file" must be an absolute path, got "${v}"`);
  return v;
}

export class AdminServer {
  private constructor(private readonly server: Server, private readonly path: string) {}

  static async start(path: string, images: ImageService, log: Logger): Promise<AdminServer> {
    if (existsSync(path)) unlinkSync(path);
    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<unknown> => {
      if (req.method === 'GET' && req.url === '/v1/pulls') return { pulls: images.activePulls() };
      if (req.method !== 'POST') throw invalidArgument(`${req.method} not allowed`);
      const o = await body(req);
      switch (req.url) {
        case '/v1/images/import': {
          const { importArchive } = await import('../image/archive.js');
          const recs = await importArchive(images, str(o, 'file', true)!, str(o, 'name', false));
          log.info({ file: o.file, images: recs.map((r) => r.id) }, 'images imported');
          return { images: recs.map((r) => ({ id: r.id, repoTags: r.repoTags })) };
        }
        case '/v1/images/export': {
          const { exportArchive } = await import('../image/archive.js');
          const rec = await exportArchive(images, str(o, 'image', true)!, str(o, 'file', true)!);
          log.info({ file: o.file, image: rec.id }, 'image exported');
          return { id: rec.id };
        }
        default:
          res.statusCode = 404;
          return { error: `no such admin operation ${req.url}` };
      }
    };
    const server = createServer((req, res) => {
      handle(req, res).then(
        (out) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(out));
        },
        (err: unknown) => {
          res.statusCode = err instanceof BerthError ? (HTTP_STATUS[err.kind] ?? 500) : 500;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ error: errorMessage(err) }));
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    chmodSync(path, 0o600);
    return new AdminServer(server, path);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (existsSync(this.path)) unlinkSync(this.path);
  }
}
