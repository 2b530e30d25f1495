import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from './config.js';
import { redactConfig, redactUrl } from './redact.js';

test('registry passwords and passwords inside URLs are redacted; the configuration itself is untouched', () => {
  const cfg = loadConfig();
  cfg.registries['reg.example:5000'] = {
    mirrors: ['https://puller:mirror-secret@mirror.example', 'http://plain.example'], server: 'https://u:server-secret@srv.example/v2',
    insecure: false, ca_file: '', cert_file: '', key_file: '/etc/berth/client.key', username: 'puller', password: 'reg-secret',
  };
  cfg.registries['open.example'] = { ...cfg.registries['reg.example:5000'], mirrors: [], server: '', password: '' };
  cfg.tracing.otlp_endpoint = 'http://otel:otlp-secret@127.0.0.1:4318';
  const out = JSON.stringify(redactConfig(cfg));
  for (const secret of ['reg-secret', 'mirror-secret', 'server-secret', 'otlp-secret']) assert.ok(!out.includes(secret), `${secret} in ${out}`);
  const r = redactConfig(cfg).registries['reg.example:5000'];
  assert.equal(r.password, '[redacted]');
  assert.equal(r.username, 'puller', 'user names are not secrets');
  assert.equal(r.key_file, '/etc/berth/client.key', 'paths to key files are shown, their content never is');
  assert.deepEqual(r.mirrors, ['https://puller:[redacted]@mirror.example', 'http://plain.example']);
  assert.equal(redactConfig(cfg).registries['open.example'].password, '', 'an empty password stays empty: nothing to hide');
  assert.equal(cfg.registries['reg.example:5000'].password, 'reg-secret');
});

test('redactUrl changes only a URL password', () => {
  assert.equal(redactUrl('https://a:b@h:1/p'), 'https://a:[redacted]@h:1/p');
  assert.equal(redactUrl('https://h:1/p?x=a:b@c'), 'https://h:1/p?x=a:b@c');
  assert.equal(redactUrl('https://user@h'), 'https://user@h');
  assert.equal(redactUrl('not a url: a:b@c'), 'not a url: a:b@c');
});
