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
  log.debug({ config: { registries: { 'r.example': { username: 'u', password: 'deep-secret' } } } }, 'configuration');
  log.child({ component: 'image' }).info({ mirror: 'https://u:url-secret@mirror.example' }, 'mirror failed');
  log.info({ endpoint: 'http://u:otlp-secret@127.0.0.1:4318' }, 'exporting traces');
  for (const secret of ['hunter2', 'dTpodW50ZXIy', 'tok-id', 'tok-reg', 'shh', 'top', 'deep-secret', 'url-secret', 'otlp-secret']) {
    assert.ok(!out.includes(secret), `"${secret}" leaked into: ${out}`);
  }
  assert.match(out, /\[redacted\]/);
  assert.match(out, /"mirror":"https:\/\/u:\[redacted\]@mirror\.example"/);
});
