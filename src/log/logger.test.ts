import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from './logger.js';

test('credentials and env values never reach the log', () => {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const log = createLogger('debug', sink);
  log.info({ auth: { username: 'u', password: 'hunter2', auth: 'dTpodW50ZXIy', identityToken: 'tok-id', registryToken: 'tok-reg' } }, 'pull');
  log.info({ config: { envs: [{ key: 'SECRET', value: 'shh' }] } }, 'create');
  log.info({ password: 'top' }, 'flat');
  for (const secret of ['hunter2', 'dTpodW50ZXIy', 'tok-id', 'tok-reg', 'shh', 'top']) {
    assert.ok(!out.includes(secret), `"${secret}" leaked into: ${out}`);
  }
  assert.match(out, /\[redacted\]/);
});
