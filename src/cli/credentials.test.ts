import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCreds, pullAuth } from './credentials.js';
import { parsePortSpec } from './pods.js';

test('--creds: user and password split at the first colon; no colon is an empty password, as crictl does', () => {
  assert.deepEqual(parseCreds('alice:secret'), { username: 'alice', password: 'secret' });
  assert.deepEqual(parseCreds('alice:pa:ss'), { username: 'alice', password: 'pa:ss' });
  assert.deepEqual(parseCreds('alice'), { username: 'alice', password: '' });
  assert.deepEqual(parseCreds('alice:'), { username: 'alice', password: '' });
  assert.throws(() => parseCreds(':secret'), /user name must not be empty/);
  assert.throws(() => parseCreds(''), /must not be empty/);
});

test('only one way of giving credentials at a time', async () => {
  assert.equal(await pullAuth({}), undefined);
  assert.deepEqual(await pullAuth({ auth: 'YTpi' }), { auth: 'YTpi' });
  await assert.rejects(pullAuth({ creds: 'a:b', auth: 'YTpi' }), /only one of/);
});

test('port-forward specs: [LOCAL:]REMOTE, an empty or 0 local port is any free one', () => {
  assert.deepEqual(parsePortSpec('8080'), { local: 8080, remote: 8080 });
  assert.deepEqual(parsePortSpec('9000:80'), { local: 9000, remote: 80 });
  assert.deepEqual(parsePortSpec(':80'), { local: 0, remote: 80 });
  assert.deepEqual(parsePortSpec('0:80'), { local: 0, remote: 80 });
  for (const bad of ['', 'x', '80:', '70000', '1:0', 'a:80']) assert.throws(() => parsePortSpec(bad), /LOCAL_PORT/, bad);
});
