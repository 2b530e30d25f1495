// `berth image import/export` through berthd's admin socket: archives made
// by skopeo (oci-archive, docker-archive) load; an exported archive is read
// by skopeo and imports into another daemon as the same image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildLayout, exportArchive } from '../helpers/images.js';
import { startDaemon, runCli, tempDir } from '../helpers/daemon.js';

interface Status { image: { id: string; repoTags: string[] } | null }

test('import oci-archive and docker-archive; export round trip', async () => {
  const img = await buildLayout('v1', { config: { User: 'app' }, layers: [{ files: [{ path: 'etc/hostname', type: 'whiteout' }, { path: 'data/x', content: 'x\n' }] }] });
  const work = tempDir();
  const d = await startDaemon();
  const d2 = await startDaemon();
  try {
    const oci = join(work, 'img.oci.tar');
    const docker = join(work, 'img.docker.tar');
    await exportArchive(img, oci, 'oci-archive');
    await exportArchive(img, docker, 'docker-archive', 'test/docker');

    let r = await runCli(['-r', d.endpoint, 'image', 'import', oci, '--name', 'example.com/test/imported']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Imported ${img.configDigest} \\(example.com/test/imported:v1\\)`));
    let st = await d.client.call<Status>('ImageStatus', { image: { image: 'example.com/test/imported:v1' } });
    assert.equal(st.image?.id, img.configDigest);
    for (const l of img.layers) assert.ok(existsSync(join(d.root, 'images/layers', l.diffId.slice(7))));

    r = await runCli(['-r', d.endpoint, 'image', 'import', docker]);
    assert.equal(r.code, 0, r.stderr);
    st = await d.client.call<Status>('ImageStatus', { image: { image: 'test/docker:v1' } });
    assert.equal(st.image?.id, img.configDigest);
    assert.deepEqual(st.image?.repoTags.sort(), ['docker.io/test/docker:v1', 'example.com/test/imported:v1']);

    const out = join(work, 'export.tar');
    r = await runCli(['-r', d.endpoint, 'image', 'export', 'example.com/test/imported:v1', out]);
    assert.equal(r.code, 0, r.stderr);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${out}`], { encoding: 'utf8' }));
    assert.deepEqual(inspected.Layers, img.layers.map((l) => l.digest));
    r = await runCli(['-r', d2.endpoint, 'image', 'import', out]);
    assert.equal(r.code, 0, r.stderr);
    st = await d2.client.call<Status>('ImageStatus', { image: { image: img.configDigest } });
    assert.deepEqual(st.image?.repoTags, ['example.com/test/imported:v1']);

    r = await runCli(['-r', d.endpoint, 'image', 'import', join(work, 'missing.tar')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.tar does not exist/);
    r = await runCli(['-r', d.endpoint, 'image', 'export', 'example.com/none:v1', out]);
    assert.match(r.stderr, /image "example.com\/none:v1" not found/);
  } finally {
    for (const x of [d, d2]) {
      await x.stop();
      x.cleanup();
    }
    img.cleanup();
    execFileSync('rm', ['-rf', work]);
  }
});
