import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MT, parseManifest, selectPlatform, type ImageIndex } from './manifest.js';
import { PullError } from './errors/pull-error.js';
import { parseChallenge } from './registry/auth.js';

const D = (c: string): string => 'sha256:' + c.repeat(64);
const j = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

test('schema 1 is refused with a clear message; malformed manifests name the problem', () => {
  const s1 = j({ schemaVersion: 1, name: 'x', fsLayers: [] });
  assert.throws(() => parseManifest(s1, MT.dockerSchema1Signed, 'r.io'), (e: unknown) =>
    e instanceof PullError && e.reason === 'unsupported' && /schema 1/.test(e.message) && e.message.startsWith('registry r.io: '));
  assert.throws(() => parseManifest(Buffer.from('{'), '', 'r.io'), /not JSON/);
  assert.throws(() => parseManifest(j({ schemaVersion: 2, mediaType: MT.ociManifest, config: { digest: 'x', size: 1 }, layers: [] }), '', 'r.io'), /descriptor/);
  assert.throws(() => parseManifest(j({ schemaVersion: 2, mediaType: MT.ociManifest, config: { digest: D('a'), size: 1 },
    layers: [{ mediaType: 'application/x-foo', digest: D('b'), size: 1 }] }), '', 'r.io'), /unsupported media type/);
  const m = parseManifest(j({ schemaVersion: 2, mediaType: MT.dockerManifest, config: { mediaType: MT.dockerConfig, digest: D('a'), size: 2 },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: D('b'), size: 3 }] }), '', 'r.io');
  assert.equal(m.kind, 'manifest');
});

test('platform selection prefers the exact variant and explains a miss', () => {
  const idx: ImageIndex = { kind: 'index', manifests: [
    { mediaType: MT.ociManifest, digest: D('1'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
    { mediaType: MT.ociManifest, digest: D('2'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { mediaType: MT.ociManifest, digest: D('3'), size: 1, platform: { os: 'linux', architecture: 'arm64' } },
    { mediaType: MT.ociManifest, digest: D('4'), size: 1, platform: { os: 'windows', architecture: 'amd64' } },
  ] };
  assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'arm', variant: 'v7' }, 'r').digest, D('2'));
  assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'r').digest, D('3'));
  assert.throws(() => selectPlatform(idx, { os: 'linux', architecture: 'amd64' }, 'r'), /no manifest for platform linux\/amd64 \(index offers linux\/arm\/v6, .*windows\/amd64\)/);
});

test('WWW-Authenticate challenges parse', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'), {
    scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
  });
  assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', params: { realm: 'x' } });
});
