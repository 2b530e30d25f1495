import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReference, formatReference, asImageId } from './reference.js';

const D = 'sha256:' + 'a'.repeat(64);

test('references normalize as the ecosystem does', () => {
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['index.docker.io/foo/bar', 'docker.io/foo/bar:latest'],
    ['quay.io/a/b/c:v1', 'quay.io/a/b/c:v1'],
    ['localhost/x', 'localhost/x:latest'],
    ['127.0.0.1:5000/test/busybox', '127.0.0.1:5000/test/busybox:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`r.io:443/x:t@${D}`, `r.io:443/x:t@${D}`],
  ];
  for (const [input, want] of cases) assert.equal(formatReference(parseReference(input)), want, input);
});

test('invalid references name the input', () => {
  for (const bad of ['', 'UPPER', 'a//b', 'x:', `x@sha256:123`, 'x:t@md5:abc', 'a/b:-bad', 'reg.io/']) {
    assert.throws(() => parseReference(bad), (e: Error & { kind?: string }) => e.kind === 'InvalidArgument' && e.message.includes(`"${bad}"`), bad);
  }
});

test('image IDs and prefixes', () => {
  assert.deepEqual(asImageId('b'.repeat(64)), { full: 'sha256:' + 'b'.repeat(64) });
  assert.deepEqual(asImageId('sha256:bbbbbbbbbbbb'), { prefix: 'sha256:bbbbbbbbbbbb' });
  assert.equal(asImageId('busybox'), undefined);
  assert.equal(asImageId('cafe'), undefined);
});

test('registries a URL cannot be made of, repository names too long and image IDs are refused; the input is quoted cut short', () => {
  for (const bad of ['localhost:99999/x', 'localhost:0/x', 'r.io:65536/x', '[zz]:5000/x', `${'a'.repeat(256)}`, 'b'.repeat(64), `x/${'y'.repeat(300)}`]) {
    assert.throws(() => parseReference(bad), (e: Error & { kind?: string }) => e.kind === 'InvalidArgument', bad);
  }
  for (const good of ['localhost:65535/x', '[::1]:5000/x', 'r.io:1/x']) assert.doesNotThrow(() => parseReference(good), good);
  assert.throws(() => parseReference(`q/${'Z'.repeat(100_000)}`), (e: Error) => e.message.length < 1024 && /…\(100002 bytes\)/.test(e.message));
});
