// Image volumes (Mount.image): an image's files mounted read-only at a
// container path, whole or a sub-path, checked from inside the container;
// the image is held while the container exists (RemoveImage keeps its
// files readable) and let go by RemoveContainer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CallError } from '../../src/cli/client.js';
import { buildAndPush } from '../helpers/images.js';
import { podSuite, startPodDaemon, restartPodDaemon, stopLeavingNothing, runPod, runContainer, createContainer, execSync, type PodFixture, type PodDaemon } from '../helpers/pods.js';

let d: PodDaemon;
let fx: PodFixture;
podSuite({}, (f, daemon) => {
  fx = f;
  d = daemon;
});

const holds = (root = d.root): string[] => {
  const dir = join(root, 'images', 'holds');
  return existsSync(dir) ? readdirSync(dir).map((f) => decodeURIComponent(f.replace(/\.json$/, ''))) : [];
};

test('image volumes: layers merged read-only at the container path, sub-paths, held until RemoveContainer; missing images and bad sub-paths refused', async () => {
  const data = await buildAndPush(fx.registry, 'test/data', 'v1', {
    base: false,
    layers: [
      { files: [{ path: 'models/a.txt', content: 'layer-one\n' }, { path: 'models/old.txt', content: 'deleted above\n' }, { path: 'conf/app.conf', content: 'x=1\n' }] },
      { files: [{ path: 'models/b.txt', content: 'layer-two\n' }, { path: 'models/old.txt', type: 'whiteout' }] },
    ],
  });
  const single = await buildAndPush(fx.registry, 'test/single', 'v1', { base: false, layers: [{ files: [{ path: 'only/one.txt', content: 'single\n' }] }] });
  const pulled = await d.client.call<{ imageRef: string }>('PullImage', { image: { image: data.ref } });
  const pulledSingle = await d.client.call<{ imageRef: string }>('PullImage', { image: { image: single.ref } });
  const pod = await runPod(d);
  const id = await runContainer(d, pod, fx.image, {
    mounts: [
      { containerPath: '/data', image: { image: pulled.imageRef } },
      { containerPath: '/conf', image: { image: pulled.imageRef }, imageSubPath: 'conf' },
      { containerPath: '/single', image: { image: pulledSingle.imageRef }, readonly: false },
    ],
  });
  const sh = async (script: string): Promise<{ stdout: string; exitCode: number; stderr: string }> => execSync(d, id, ['sh', '-c', script]);
  assert.equal((await sh('cat /data/models/a.txt /data/models/b.txt')).stdout, 'layer-one\nlayer-two\n');
  assert.notEqual((await sh('test -e /data/models/old.txt')).exitCode, 0, 'the upper layer\'s whiteout hides the lower file');
  assert.equal((await sh('cat /conf/app.conf; ls /conf')).stdout, 'x=1\napp.conf\n');
  assert.equal((await sh('cat /single/only/one.txt')).stdout, 'single\n');
  for (const dir of ['/data/models', '/conf', '/single']) {
    const w = await sh(`touch ${dir}/new`);
    assert.notEqual(w.exitCode, 0, `${dir} is read-only`);
    assert.match(w.stderr, /Read-only file system/);
  }
  assert.ok(holds().includes(`${id}+volume0`) && holds().includes(`${id}+volume2`), `holds: ${holds().join(', ')}`);
  const st = (await d.client.call<{ status: { mounts: { containerPath: string; image?: { image: string }; imageSubPath: string; readonly: boolean }[] } }>('ContainerStatus', { containerId: id })).status;
  assert.deepEqual(st.mounts.map((m) => [m.containerPath, m.image?.image, m.imageSubPath, m.readonly]), [
    ['/data', pulled.imageRef, '', true], ['/conf', pulled.imageRef, 'conf', true], ['/single', pulledSingle.imageRef, '', true],
  ]);

  // RemoveImage of a held image: its name goes, its files stay for the container.
  await d.client.call('RemoveImage', { image: { image: data.ref } });
  assert.equal((await sh('cat /data/models/a.txt')).stdout, 'layer-one\n');

  // Refusals name the mount; nothing of the refused containers is left.
  const refused = async (mounts: unknown[], code: number, re: RegExp): Promise<void> => {
    await assert.rejects(createContainer(d, pod, fx.image, { mounts }), (e: CallError) => e.code === code && re.test(e.details));
  };
  await refused([{ containerPath: '/x', image: { image: `${fx.registry.host}/test/absent:v1` } }], 5, /config\.mounts\[0\]\.image.*absent/);
  await refused([{ containerPath: '/x', image: { image: pulledSingle.imageRef }, imageSubPath: '../etc' }], 3, /config\.mounts\[0\]\.image_sub_path/);
  await refused([{ containerPath: '/x', image: { image: pulledSingle.imageRef }, imageSubPath: 'nothing/here' }], 5, /config\.mounts\[0\]\.image_sub_path "nothing\/here"/);
  const list = await d.client.call<{ containers: unknown[] }>('ListContainers', { filter: { podSandboxId: pod.id } });
  assert.equal(list.containers.length, 1);
  assert.deepEqual(holds().filter((h) => !h.startsWith(id)), [], 'refused creations hold nothing');

  await d.client.call('RemoveContainer', { containerId: id });
  assert.deepEqual(holds(), [], 'RemoveContainer lets the images go');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('an image volume survives a SIGKILL of berthd: still mounted and held after the restart, let go by RemoveContainer', async () => {
  const data = await buildAndPush(fx.registry, 'test/data-restart', 'v1', { base: false, layers: [{ files: [{ path: 'kept.txt', content: 'kept\n' }] }] });
  const d1 = await startPodDaemon(fx.image);
  const ref = (await d1.client.call<{ imageRef: string }>('PullImage', { image: { image: data.ref } })).imageRef;
  const pod = await runPod(d1);
  const id = await runContainer(d1, pod, fx.image, { mounts: [{ containerPath: '/data', image: { image: ref } }] });
  await d1.kill();
  const d2 = await restartPodDaemon(d1);
  try {
    assert.ok(holds(d2.root).includes(`${id}+volume0`), 'the volume\'s hold is kept by the restart');
    assert.equal((await execSync(d2, id, ['cat', '/data/kept.txt'])).stdout, 'kept\n');
    await d2.client.call('RemoveContainer', { containerId: id });
    assert.deepEqual(holds(d2.root), []);
    await d2.client.call('RemovePodSandbox', { podSandboxId: pod.id });
  } finally {
    await stopLeavingNothing(d2);
  }
});
