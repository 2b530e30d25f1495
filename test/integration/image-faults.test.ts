// Transient registry failures through a fault-injecting proxy in front of a
// real registry: 503/429 and a connection reset mid-blob are retried; a slow
// transfer succeeds; a stalled one fails after image.stall_timeout and leaves
// nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { buildAndPush } from '../helpers/images.js';
import { startDaemon } from '../helpers/daemon.js';
import { CallError } from '../../src/cli/client.js';

type Fault = 'pass' | 503 | 429 | 'reset' | 'slow' | 'stall';

/** Forwards to the registry; `decide` picks a fault per request. */
async function faultyProxy(reg: TestRegistry, decide: (req: IncomingMessage) => Fault) {
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((req, res: ServerResponse) => {
    const fault = decide(req);
    if (fault === 503 || fault === 429) {
      res.writeHead(fault, fault === 429 ? { 'retry-after': '0' } : {});
      res.end();
      return;
    }
    const up = request({ host: '127.0.0.1', port: reg.port, path: req.url, method: req.method, headers: req.headers }, async (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (fault === 'pass') {
        ur.pipe(res);
        return;
      }
      let sent = 0;
      for await (const chunk of ur as AsyncIterable<Buffer>) {
        for (let i = 0; i < chunk.length; i += 32768) {
          const part = chunk.subarray(i, i + 32768);
          if (fault === 'slow') await sleep(40);
          if ((fault === 'reset' || fault === 'stall') && sent > 100_000) {
            if (fault === 'reset') res.socket?.destroy();
            return; // stall: keep the connection open, send nothing more
          }
          res.write(part);
          sent += part.length;
        }
      }
      res.end();
    });
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    host,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('503, 429 and a reset mid-blob are retried; slow succeeds; stalled fails clean', async () => {
  const reg = await startRegistry();
  const img = await buildAndPush(reg, 'test/faulty', 'v1', { layers: [{ randomBytes: 1 << 20 }] });
  const big = img.layers[1].digest;
  const seen = new Map<string, number>();
  let mode: 'flaky' | 'slow' | 'stall' = 'flaky';
  const proxy = await faultyProxy(reg, (req) => {
    const key = `${mode} ${req.url}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    const isBig = req.url?.includes(big) === true;
    if (mode === 'flaky') {
      if (req.url?.includes('/manifests/') && n === 1) return 503;
      if (req.url?.includes('/manifests/') && n === 2) return 429;
      if (isBig && n === 1) return 'reset';
      return 'pass';
    }
    if (!isBig) return 'pass';
    return mode;
  });
  const d = await startDaemon({ toml: '[image]\nretries = 2\nstall_timeout = 1\n' });
  const ref = `${proxy.host}/test/faulty:v1`;
  try {
    const res = await d.client.call<{ imageRef: string }>('PullImage', { image: { image: ref } });
    assert.equal(res.imageRef, img.configDigest);
    assert.match(await d.logsMatching(/registry request failed, retrying/), /registry request failed, retrying/);
    await d.client.call('RemoveImage', { image: { image: ref } });

    mode = 'slow'; // ~1 MiB in 32 KiB steps 40 ms apart: slow, never stalled for 1 s
    assert.equal((await d.client.call<{ imageRef: string }>('PullImage', { image: { image: ref } })).imageRef, img.configDigest);
    await d.client.call('RemoveImage', { image: { image: ref } });

    mode = 'stall';
    const t0 = Date.now();
    let err: unknown;
    try {
      await d.client.call('PullImage', { image: { image: ref } });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof CallError, String(err));
    assert.equal(err.code, 4 /* DEADLINE_EXCEEDED */);
    assert.match(err.details, new RegExp(`registry ${proxy.host}: .*${big}`));
    assert.ok(Date.now() - t0 < 20_000);
    assert.deepEqual(readdirSync(join(d.root, 'images/ingest')), []);
    assert.ok(!readdirSync(join(d.root, 'images/blobs/sha256')).includes(big.slice(7)));
    assert.deepEqual((await d.client.call<{ images: unknown[] }>('ListImages', {})).images, []);
  } finally {
    await d.stop();
    d.cleanup();
    await proxy.close();
    await reg.stop();
  }
});
