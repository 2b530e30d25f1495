// A pull that runs out of disk fails with RESOURCE_EXHAUSTED naming the
// registry, and leaves nothing half-stored: the image store sits on a small
// tmpfs of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry } from '../helpers/registry.js';
import { buildAndPush } from '../helpers/images.js';
import { startDaemon, tempDir, type TestDaemon } from '../helpers/daemon.js';
import { CallError } from '../../src/cli/client.js';

test('disk full during a pull: RESOURCE_EXHAUSTED, nothing half-stored', async () => {
  const reg = await startRegistry();
  const dir = tempDir();
  const root = join(dir, 'root');
  mkdirSync(root);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'berth-test-tmpfs', root]);
  let d: TestDaemon | undefined;
  try {
    const img = await buildAndPush(reg, 'test/huge', 'v1', { base: false, layers: [{ randomBytes: 3 << 20 }] });
    d = await startDaemon({ dir });
    let err: unknown;
    try {
      await d.client.call('PullImage', { image: { image: img.ref } });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof CallError, String(err));
    assert.equal(err.code, 8 /* RESOURCE_EXHAUSTED */, err.details);
    assert.match(err.details, new RegExp(`registry ${reg.host}: .*(no space left|No space left)`));
    assert.deepEqual(readdirSync(join(root, 'images/ingest')), []);
    assert.deepEqual(readdirSync(join(root, 'images/layers')), []);
    assert.deepEqual((await d.client.call<{ images: unknown[] }>('ListImages', {})).images, []);
  } finally {
    await d?.stop();
    execFileSync('umount', [root]);
    d?.cleanup();
    execFileSync('rm', ['-rf', dir]);
    await reg.stop();
  }
});
