// CDI devices end to end: a spec of the test's own exposes the host's
// /dev/null and /dev/zero under other names, with a mount, an environment
// variable and a createRuntime hook; everything is checked from inside the
// container (and the hook's record on the host).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CallError } from '../../src/cli/client.js';
import { tempDir } from '../helpers/daemon.js';
import { podSuite, runPod, runContainer, createContainer, execSync, type PodFixture, type PodDaemon } from '../helpers/pods.js';

const dir = tempDir('berth-cdi-');
const specDir = join(dir, 'cdi');
const share = join(dir, 'share');
mkdirSync(specDir);
mkdirSync(share);
writeFileSync(join(share, 'firmware.bin'), 'from-the-host\n');
after(() => rmSync(dir, { recursive: true, force: true }));

let d: PodDaemon;
let fx: PodFixture;
podSuite({ toml: `cdi_spec_dirs = ["${join(dir, 'none')}", "${specDir}"]\n` }, (f, daemon) => {
  fx = f;
  d = daemon;
});

test('CDI devices by CDI_devices and by annotation: device nodes, mounts, env and hooks inside the container; unknown devices refused by name', async () => {
  writeFileSync(join(specDir, 'berth-test.yaml'), [
    'cdiVersion: "0.6.0"',
    'kind: test.berth.dev/fake',
    'containerEdits:',
    '  env: ["FAKE_DRIVER=1"]',
    'devices:',
    '  - name: sink',
    '    containerEdits:',
    '      deviceNodes:',
    '        - path: /dev/fake-sink',
    '          hostPath: /dev/null',
    '      hooks:',
    `        - {hookName: createRuntime, path: /bin/sh, args: [sh, -c, "cat > ${dir}/hook-state"]}`,
    '  - name: source',
    '    containerEdits:',
    '      env: ["FAKE_SOURCE=zero"]',
    '      deviceNodes:',
    '        - {path: /dev/fake-source, hostPath: /dev/zero, permissions: r}',
    '      mounts:',
    `        - {hostPath: ${share}, containerPath: /opt/fake, options: [ro, nosuid, nodev]}`,
    '',
  ].join('\n'));
  const pod = await runPod(d);
  const id = await runContainer(d, pod, fx.image, {
    CDIDevices: [{ name: 'test.berth.dev/fake=sink' }],
    annotations: { 'cdi.k8s.io/berth-test': 'test.berth.dev/fake=source' },
  });
  const sh = async (script: string): Promise<string> => {
    const r = await execSync(d, id, ['sh', '-c', script]);
    assert.equal(r.exitCode, 0, `${script}: ${r.stderr}`);
    return r.stdout;
  };
  // Character devices 1:3 and 1:5 (null, zero), under the spec's names.
  assert.equal(await sh('stat -c "%F %t:%T" /dev/fake-sink /dev/fake-source'), 'character special file 1:3\ncharacter special file 1:5\n');
  assert.equal(await sh('echo gone > /dev/fake-sink && head -c 6 /dev/fake-source | wc -c'), '6\n');
  assert.equal(await sh('cat /opt/fake/firmware.bin'), 'from-the-host\n');
  assert.notEqual((await execSync(d, id, ['touch', '/opt/fake/new'])).exitCode, 0, 'the mount is read-only');
  assert.equal(await sh('echo $FAKE_DRIVER $FAKE_SOURCE'), '1 zero\n');
  // The hook ran on the host with the container's state on its stdin.
  assert.ok(existsSync(join(dir, 'hook-state')));
  assert.equal((JSON.parse(readFileSync(join(dir, 'hook-state'), 'utf8')) as { id: string }).id, id);

  const refused = async (extra: Record<string, unknown>, name: RegExp): Promise<void> => {
    await assert.rejects(createContainer(d, pod, fx.image, extra), (e: CallError) => e.code === 3 && name.test(e.details));
  };
  await refused({ CDIDevices: [{ name: 'test.berth.dev/fake=missing' }] }, /"test\.berth\.dev\/fake=missing"/);
  await refused({ annotations: { 'cdi.k8s.io/x': 'other.vendor/gpu=0' } }, /"other\.vendor\/gpu=0"/);
  await refused({ CDIDevices: [{ name: 'plainname' }] }, /"plainname" is not a fully qualified name/);
  // Nothing of the refused ones is left: the pod holds only the first container.
  const list = await d.client.call<{ containers: unknown[] }>('ListContainers', { filter: { podSandboxId: pod.id } });
  assert.equal(list.containers.length, 1);
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});
