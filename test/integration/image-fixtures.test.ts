// The registry and image fixtures other tests rely on work end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startRegistry } from '../helpers/registry.js';
import { pushBusybox, buildAndPush } from '../helpers/images.js';

test('fixture: busybox image pushed to a plain registry is inspectable', async () => {
  const reg = await startRegistry();
  try {
    const img = await pushBusybox(reg);
    const out = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${img.ref}`], { encoding: 'utf8' }));
    assert.equal(out.Digest, img.digest);
    assert.deepEqual(out.Layers, img.layers.map((l) => l.digest));
  } finally {
    await reg.stop();
  }
});

test('fixture: multi-platform index on a TLS registry with htpasswd', async () => {
  const reg = await startRegistry({ auth: { username: 'alice', password: 's3cret' } });
  try {
    const img = await buildAndPush(reg, 'test/multi', 'v1', { platforms: ['linux/arm64', 'linux/amd64'], config: { User: 'app' } });
    const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', 'alice:s3cret', `docker://${img.ref}`], { encoding: 'utf8' });
    assert.equal(JSON.parse(raw).manifests.length, 2);
  } finally {
    await reg.stop();
  }
});
