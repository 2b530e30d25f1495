import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpAgent } from './http.js';

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: (p: string) => URL; close: () => Promise<void> }> {
  const srv: Server = createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  return {
    url: (p) => new URL(`http://127.0.0.1:${port}${p}`),
    close: () => new Promise((r) => {
      srv.closeAllConnections();
      srv.close(() => r());
    }),
  };
}

test('status, headers and bodies; a connection is reused after dump()', async (t) => {
  const ports = new Set<number>();
  const s = await serve((req, res) => {
    ports.add(req.socket.remotePort!);
    if (req.url === '/json') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"a":1}');
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => res.writeHead(201).end(body.toUpperCase()));
      return;
    }
    res.writeHead(404).end('x'.repeat(100_000));
  });
  const agent = new HttpAgent(false, { rejectUnauthorized: true });
  t.after(async () => {
    agent.close();
    await s.close();
  });
  const a = await agent.request(s.url('/json'));
  assert.equal(a.statusCode, 200);
  assert.equal(a.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(await a.text()), { a: 1 });
  const b = await agent.request(s.url('/missing'));
  assert.equal(b.statusCode, 404);
  await b.dump();
  const c = await agent.request(s.url('/echo'), { method: 'POST', body: 'token please', headers: { 'content-type': 'text/plain' } });
  assert.equal(c.statusCode, 201);
  assert.equal((await c.buffer()).toString(), 'TOKEN PLEASE');
  assert.equal(ports.size, 1, 'keep-alive: one connection for all three requests');
});

test('a body that stops arriving fails with a stall error; a slow one does not', async (t) => {
  const s = await serve((req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    if (req.url === '/stall') return res.write('x'.repeat(10)); // then nothing
    let sent = 0;
    const tick = setInterval(() => {
      res.write('y'.repeat(100));
      if ((sent += 100) >= 1000) {
        clearInterval(tick);
        res.end();
      }
    }, 40);
  });
  const agent = new HttpAgent(false, { rejectUnauthorized: true });
  t.after(async () => {
    agent.close();
    await s.close();
  });
  const stalled = await agent.request(s.url('/stall'), { stallTimeoutMs: 150 });
  await assert.rejects(stalled.text(), (e: Error & { code?: string }) => e.code === 'ERR_REGISTRY_STALLED');
  const slow = await agent.request(s.url('/slow'), { stallTimeoutMs: 150 });
  assert.equal((await slow.text()).length, 1000);
});

test('no answer at all is a stall; an abort cancels before and during the body', async (t) => {
  const s = await serve((req, res) => {
    if (req.url === '/silent') return; // never answers
    res.writeHead(200, { 'content-length': '1000' });
    res.write('z');
  });
  const agent = new HttpAgent(false, { rejectUnauthorized: true });
  t.after(async () => {
    agent.close();
    await s.close();
  });
  await assert.rejects(agent.request(s.url('/silent'), { stallTimeoutMs: 100 }), (e: Error & { code?: string }) => e.code === 'ERR_REGISTRY_STALLED');

  const before = new AbortController();
  const pending = agent.request(s.url('/silent'), { signal: before.signal });
  setTimeout(() => before.abort(), 50);
  await assert.rejects(pending, (e: Error) => e.name === 'AbortError');

  const during = new AbortController();
  const res = await agent.request(s.url('/body'), { signal: during.signal });
  setTimeout(() => during.abort(), 50);
  await assert.rejects(res.text(), (e: Error) => e.name === 'AbortError');

  const already = new AbortController();
  already.abort();
  await assert.rejects(agent.request(s.url('/body'), { signal: already.signal }), (e: Error) => e.name === 'AbortError');
});
