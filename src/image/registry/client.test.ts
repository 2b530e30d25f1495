import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RepoClient, parseRetryAfter } from './client.js';
import { Hosts } from './hosts.js';
import { TokenCache } from './auth.js';
import { silentLogger } from '../../log/logger.js';
import { PullError } from '../errors/pull-error.js';

test('Retry-After as delay-seconds or an HTTP-date', () => {
  const now = Date.parse('Sun, 06 Dec 2026 12:00:00 GMT');
  assert.equal(parseRetryAfter('2', now), 2000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('Sun, 06 Dec 2026 12:00:03 GMT', now), 3000);
  assert.equal(parseRetryAfter('Sun, 06 Dec 2026 11:59:00 GMT', now), 0, 'a date in the past means now');
  assert.equal(parseRetryAfter(['5', '7'], now), 5000);
  assert.equal(parseRetryAfter(undefined, now), undefined);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter('-1', now), undefined);
});

/** A registry whose manifest answers `answers` in turn (status, Retry-After), then 200; arrival times kept. */
async function throttling(answers: [number, string?][]): Promise<{ client: (retries: number) => RepoClient; arrivals: number[]; close(): Promise<void> }> {
  const arrivals: number[] = [];
  const srv = createServer((_req: IncomingMessage, res: ServerResponse) => {
    arrivals.push(Date.now());
    const a = answers.shift();
    if (a) {
      res.writeHead(a[0], a[1] === undefined ? {} : { 'retry-after': a[1] });
      res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
    res.end('{}');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const hosts = new Hosts({ registries: {}, insecureRegistries: [] });
  return {
    arrivals,
    client: (retries) => new RepoClient({ hosts, tokens: new TokenCache(), retries, stallTimeoutMs: 5000, log: silentLogger(), backoffMs: 10 }, host, 'test/x', {}),
    close: async () => {
      await hosts.close();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

test('a 429 with Retry-After is retried no sooner than asked, beyond image.retries quick attempts', async () => {
  const reg = await throttling([[429, '1'], [429, '1'], [503, '1']]);
  try {
    const m = await reg.client(1).manifest('v1', '*/*');
    assert.equal(m.body.toString(), '{}');
    assert.equal(reg.arrivals.length, 4, 'three throttled answers waited out with retries = 1');
    for (let i = 1; i < reg.arrivals.length; i++) {
      const gap = reg.arrivals[i]! - reg.arrivals[i - 1]!;
      assert.ok(gap >= 1000, `comeback ${i} after ${gap} ms, asked 1000`);
      assert.ok(gap < 1000 + 500 + 300, `comeback ${i} after ${gap} ms: spread over at most half the delay (at least 250 ms)`);
    }
  } finally {
    await reg.close();
  }
});

test('without Retry-After the count of retries holds; with retries = 0 a throttled request is not retried', async () => {
  const plain = await throttling([[429], [429], [429]]);
  try {
    await assert.rejects(plain.client(1).manifest('v1', '*/*'), (err: unknown) => err instanceof PullError && err.reason === 'rate_limited');
    assert.equal(plain.arrivals.length, 2);
  } finally {
    await plain.close();
  }
  const off = await throttling([[429, '0']]);
  try {
    await assert.rejects(off.client(0).manifest('v1', '*/*'), (err: unknown) => err instanceof PullError && /Retry-After 0 s/.test(err.message));
    assert.equal(off.arrivals.length, 1);
  } finally {
    await off.close();
  }
});

test('a Retry-After longer than the patience fails the pull at once instead of coming back early', async () => {
  const reg = await throttling([[429, '3600']]);
  try {
    const t0 = Date.now();
    await assert.rejects(reg.client(3).manifest('v1', '*/*'), (err: unknown) => err instanceof PullError && err.retryAfterMs === 3_600_000);
    assert.equal(reg.arrivals.length, 1);
    assert.ok(Date.now() - t0 < 1000);
  } finally {
    await reg.close();
  }
});
