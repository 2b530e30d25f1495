import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from './metrics.js';
import { MetricsServer, parseHostPort } from './server.js';

test('address parsing', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:9847'), { host: '127.0.0.1', port: 9847 });
  assert.deepEqual(parseHostPort('[::1]:9847'), { host: '::1', port: 9847 });
  assert.throws(() => parseHostPort('nope'));
});

test('/metrics serves the registry after running the scrape hooks; other paths 404', async () => {
  const m = new Metrics();
  let hooked = 0;
  const srv = await MetricsServer.start('127.0.0.1:0', m.registry, [async () => {
    hooked++;
    m.containerFsBytes.set(1234);
  }, async () => {
    throw new Error('a failing hook does not fail the scrape');
  }]);
  try {
    m.containerStartAttempts.inc();
    const res = await fetch(`http://127.0.0.1:${srv.port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const body = await res.text();
    assert.match(body, /^berth_container_start_attempts_total 1$/m);
    assert.match(body, /^berth_container_fs_used_bytes 1234$/m);
    assert.match(body, /^berth_daemon_uptime_seconds \d/m);
    assert.match(body, /^berth_process_cpu_user_seconds_total /m, 'process metrics');
    assert.equal(hooked, 1);
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await srv.stop();
  }
});
