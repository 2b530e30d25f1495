import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, redact, stamp } from './diagnose.js';

test('redact: credentials and environment values, nothing else', () => {
  const out = redact({
    registries: { 'r.example': { username: 'u', password: 'hunter2', mirrors: [] } },
    auth: { auth: 'dTpodW50ZXIy', identityToken: 'tok' },
    process: { env: ['PATH=/bin', 'API_KEY=shh'], args: ['sh', '-c', 'x=1'] },
    envs: [{ key: 'SECRET', value: 'shh' }],
    empty: { password: '' },
  });
  const text = JSON.stringify(out);
  for (const secret of ['hunter2', 'dTpodW50ZXIy', 'tok', 'shh', '/bin']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
  assert.deepEqual((out as { process: { env: string[]; args: string[] } }).process, { env: ['PATH=[redacted]', 'API_KEY=[redacted]'], args: ['sh', '-c', 'x=1'] });
  assert.deepEqual((out as { envs: unknown }).envs, [{ key: 'SECRET', value: '[redacted]' }]);
  assert.equal((out as { registries: Record<string, { username: string }> }).registries['r.example']!.username, 'u');
  assert.deepEqual((out as { empty: unknown }).empty, { password: '' });
});

test('bundle names sort by time; durations', () => {
  assert.equal(stamp(new Date('2026-01-02T03:04:05.678Z')), '20260102T030405Z');
  assert.equal(parseDuration('90'), 90);
  assert.equal(parseDuration('15m'), 900);
  assert.equal(parseDuration('2h'), 7200);
  assert.equal(parseDuration('1d'), 86400);
  assert.throws(() => parseDuration('soon'), /not a duration/);
});
