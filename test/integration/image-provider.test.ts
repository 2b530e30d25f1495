// The ImageProvider seam containers use: lookups, and holds that keep an
// image's layers after RemoveImage until the container releases them (the
// containerd behaviour), surviving a restart of the service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { ImageService } from '../../src/image/service.js';
import { startRegistry } from '../helpers/registry.js';
import { buildAndPush } from '../helpers/images.js';
import { tempDir } from '../helpers/daemon.js';

test('hold keeps layers of a removed image until release; holds survive reopening', async () => {
  const reg = await startRegistry();
  const dir = tempDir();
  const config = loadConfig({ overrides: { 'daemon.root': join(dir, 'root'), 'daemon.state': join(dir, 'state') } });
  let svc = await ImageService.open(config, silentLogger(), new Metrics(false));
  try {
    const img = await buildAndPush(reg, 'test/held', 'v1', { config: { User: 'app', Entrypoint: ['/bin/sh'], Cmd: ['-c', 'true'], WorkingDir: '/tmp' }, layers: [{ files: [{ path: 'x', content: 'x' }] }] });
    await svc.pull(img.ref, {});
    const got = await svc.get(img.ref);
    assert.ok(got);
    assert.equal(got.id, img.configDigest);
    assert.equal(got.ref, `${reg.host}/test/held@${img.digest}`);
    assert.deepEqual(got.config.Entrypoint, ['/bin/sh']);
    assert.equal(got.config.WorkingDir, '/tmp');
    assert.deepEqual(got.layerDirs, img.layers.map((l) => join(svc.layers.dir, l.diffId.slice(7))));
    assert.equal(await svc.get(`${reg.host}/test/other:v1`), undefined);

    await svc.hold(got.id, 'ctr-1').persisted;
    await svc.hold(got.id, 'ctr-2').persisted;
    assert.throws(() => svc.hold('sha256:' + 'f'.repeat(64), 'ctr-3'), /not found/);
    assert.equal(await svc.remove(img.ref), true);
    assert.equal(await svc.get(img.ref), undefined);
    for (const d of got.layerDirs) assert.ok(existsSync(d), 'held layer kept');

    await svc.close();
    svc = await ImageService.open(config, silentLogger(), new Metrics(false));
    for (const d of got.layerDirs) assert.ok(existsSync(d), 'held layer kept across restart');
    await svc.release('ctr-1');
    await svc.release('ctr-1');
    for (const d of got.layerDirs) assert.ok(existsSync(d), 'still held by ctr-2');
    await svc.release('ctr-2');
    for (const d of got.layerDirs) assert.ok(!existsSync(d), 'released layer freed');
  } finally {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
    await reg.stop();
  }
});

test('concurrent pulls of the same and of overlapping images share downloads', async () => {
  const reg = await startRegistry();
  const dir = tempDir();
  const config = loadConfig({ overrides: { 'daemon.root': join(dir, 'root'), 'daemon.state': join(dir, 'state') } });
  const metrics = new Metrics(false);
  const svc = await ImageService.open(config, silentLogger(), metrics);
  try {
    const a = await buildAndPush(reg, 'test/a', 'v1', { layers: [{ files: [{ path: 'a', content: 'a' }] }] });
    const b = await buildAndPush(reg, 'test/b', 'v1', { layers: [{ files: [{ path: 'b', content: 'b' }] }] });
    const results = await Promise.all([svc.pull(a.ref, {}), svc.pull(a.ref, {}), svc.pull(b.ref, {}), svc.pull(b.ref, {})]);
    assert.deepEqual(results.map((r) => r.id), [a.configDigest, a.configDigest, b.configDigest, b.configDigest]);
    const bytes = (await metrics.registry.getSingleMetric('berth_image_pull_bytes_total')!.get()).values.reduce((s, v) => s + v.value, 0);
    // The shared busybox base layer and each image's blobs, each fetched once.
    const expected = a.layers.reduce((s, l) => s + l.size, 0) + b.layers[1].size
      + Buffer.byteLength(JSON.stringify(a.config)) + Buffer.byteLength(JSON.stringify(b.config));
    assert.equal(bytes, expected);
  } finally {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
    await reg.stop();
  }
});
