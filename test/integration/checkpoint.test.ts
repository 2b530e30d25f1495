// CheckpointContainer and restore through CreateContainer/StartContainer.
// The refusals (unknown or stopped containers, bad locations, missing,
// corrupt or foreign archives) are checked everywhere. Where CRIU works,
// a counting container is checkpointed, the archive's layout checked, and
// a restored copy must keep counting from where the original was; where it
// does not (this project's VM: CRIU 3.17 fails on its kernel's vDSO
// layout), the checkpoint must fail naming CRIU's error, leave nothing
// behind and the container running, and a restore must get as far as
// CRIU under `runc restore` (container CREATED from a hand-made archive,
// its rootfs diff applied) and fail there, naming CRIU's error, with the
// container recorded as StartError.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CallError } from '../../src/cli/client.js';
import { tempDir } from '../helpers/daemon.js';
import { buildAndPush } from '../helpers/images.js';
import { podSuite, startPodDaemon, restartPodDaemon, stopLeavingNothing, runPod, runContainer, createContainer, execSync, status, waitState, type PodFixture, type PodDaemon } from '../helpers/pods.js';

const criuWorks = spawnSync('criu', ['check'], { stdio: 'ignore' }).status === 0;
const dir = tempDir('berth-ckpt-');
after(() => {
  spawnSync('umount', [join(dir, 'ro')], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
});

let d: PodDaemon;
let fx: PodFixture;
podSuite({}, (f, daemon) => {
  fx = f;
  d = daemon;
});

const checkpoint = (containerId: string, location: string, timeout = '0'): Promise<unknown> =>
  d.client.call('CheckpointContainer', { containerId, location, timeout }, 300_000);
const leftInStore = (): string[] => {
  const p = join(d.root, 'checkpoints');
  return existsSync(p) ? readdirSync(p) : [];
};
const counter = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done'];
// The shell's `>` truncates the file before it writes the number: a read
// that falls in between (a preempted writer on a busy machine) finds it
// empty, and is made again.
const count = async (id: string): Promise<number> => {
  for (let i = 0; i < 20; i++) {
    const text = (await execSync(d, id, ['cat', '/tmp/count'])).stdout.trim();
    if (text) return Number(text);
  }
  throw new Error(`container ${id}: /tmp/count stayed empty`);
};

test('CheckpointContainer refuses unknown and stopped containers and bad locations, naming them, and makes nothing', async () => {
  const pod = await runPod(d);
  const created = await createContainer(d, pod, fx.image);
  const running = await runContainer(d, pod, fx.image);
  const loc = join(dir, 'a.tar');
  const refused = async (p: Promise<unknown>, code: number, re: RegExp): Promise<void> => {
    await assert.rejects(p, (e: CallError) => e.code === code && re.test(e.details));
  };
  await refused(checkpoint('0123456789ab', loc), 5, /0123456789ab/);
  await refused(checkpoint(created, loc), 9, new RegExp(`${created}.*CREATED`));
  await refused(checkpoint(running, 'rel/a.tar'), 3, /location "rel\/a\.tar" is not an absolute path/);
  writeFileSync(join(dir, 'exists.tar'), 'x');
  await refused(checkpoint(running, join(dir, 'exists.tar')), 6, /exists\.tar" already exists/);
  await refused(checkpoint(running, join(dir, 'no', 'such', 'a.tar')), 5, /directory .*no\/such does not exist/);
  await refused(checkpoint(running, '/proc/a.tar'), 3, /under \/proc/);
  await refused(checkpoint(running, join(d.root, 'a.tar')), 3, /under /);
  mkdirSync(join(dir, 'ro'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', join(dir, 'ro')]);
  await refused(checkpoint(running, join(dir, 'ro', 'a.tar')), 9, /is not writable \(EROFS\)/);
  await refused(checkpoint(running, loc, '-1'), 3, /timeout/);
  assert.ok(!existsSync(loc));
  assert.deepEqual(leftInStore(), []);
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('checkpoint of a running counter: an archive in the peers\' layout, the container left running (or CRIU\'s failure named, nothing left)', async (t) => {
  const pod = await runPod(d);
  const id = await runContainer(d, pod, fx.image, { command: counter });
  await execSync(d, id, ['sh', '-c', 'echo changed > /etc/berth-marker; rm /bin/httpd']);
  const loc = join(dir, 'counter.tar');
  if (!criuWorks) {
    await assert.rejects(checkpoint(id, loc), (e: CallError) => {
      t.diagnostic(`CRIU does not work here; CheckpointContainer answered: ${e.details}`);
      return e.code === 9 && new RegExp(`checkpointing container ${id}`).test(e.details) && /criu/i.test(e.details);
    });
    assert.ok(!existsSync(loc), 'no archive');
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('checkpoint-tmp')), [], 'no temporary archive');
    assert.deepEqual(leftInStore(), [], 'no work directory');
    const before = await count(id);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((await count(id)) > before, 'the container still counts');
    assert.equal((await status(d, id)).state, 'CONTAINER_RUNNING');
    await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
    return;
  }
  await checkpoint(id, loc);
  const atDump = await count(id);
  const members = execFileSync('tar', ['-tf', loc], { encoding: 'utf8' }).split('\n');
  for (const m of ['config.dump', 'spec.dump', 'rootfs-diff.tar', 'deleted.files', 'checkpoint/']) assert.ok(members.includes(m), `${m} in ${members.join(' ')}`);
  const out = join(dir, 'unpacked');
  mkdirSync(out);
  execFileSync('tar', ['-xf', loc, '-C', out]);
  const cfg = JSON.parse(readFileSync(join(out, 'config.dump'), 'utf8')) as { id: string; rootfsImage: string };
  assert.equal(cfg.id, id);
  assert.equal(cfg.rootfsImage, fx.image);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'deleted.files'), 'utf8')), ['/bin/httpd']);
  assert.ok(execFileSync('tar', ['-tf', join(out, 'rootfs-diff.tar')], { encoding: 'utf8' }).includes('etc/berth-marker'));
  await new Promise((r) => setTimeout(r, 300));
  assert.ok((await count(id)) > atDump, 'the original keeps running');
  await d.client.call('StopContainer', { containerId: id, timeout: 0 });
  const restored = await runContainer(d, pod, loc, { metadata: { name: 'restored' } });
  const first = await count(restored);
  assert.ok(first >= atDump - 20 && first < atDump + 1000, `the restored counter continues from the dump (${first} vs ${atDump})`);
  await new Promise((r) => setTimeout(r, 300));
  assert.ok((await count(restored)) > first, 'and keeps counting');
  assert.equal((await execSync(d, restored, ['cat', '/etc/berth-marker'])).stdout, 'changed\n');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

interface ArchiveSpec { arch?: number; image: string; imageId: string; files?: Record<string, string>; omit?: string[] }

/** The files of a checkpoint archive made by hand, as another engine would lay them out. */
function archiveFiles(name: string, o: ArchiveSpec): Record<string, string | Buffer> {
  const diff = join(dir, `${name}.diff`);
  mkdirSync(join(diff, 'srv'), { recursive: true });
  writeFileSync(join(diff, 'srv', 'restored.txt'), 'from the archive\n');
  execFileSync('tar', ['-cf', `${diff}.tar`, '-C', diff, '.']);
  // A CRIU core image: two magics, a size, a CoreEntry whose field 1 (mtype) is the machine.
  const core = Buffer.alloc(14);
  core.writeUInt32LE(0x54564319, 0);
  core.writeUInt32LE(0x55053847, 4);
  core.writeUInt32LE(2, 8);
  core[12] = 0x08;
  core[13] = o.arch ?? 1;
  const files: Record<string, string | Buffer> = {
    'checkpoint/core-1.img': core,
    // runc's own record of the dumped init's standard streams, read before CRIU runs.
    'checkpoint/descriptors.json': JSON.stringify(['/dev/null', '/dev/null', '/dev/null']),
    'config.dump': JSON.stringify({ id: 'f'.repeat(64), name: 'orig', rootfsImage: o.image, rootfsImageRef: o.imageId, rootfsImageName: o.image, runtime: 'runc', createdTime: new Date().toISOString() }),
    'spec.dump': JSON.stringify({ ociVersion: '1.0.2', process: { args: ['sleep', '4242'], env: ['PATH=/bin', 'RESTORED=1'], cwd: '/srv', user: { uid: 0, gid: 0 }, terminal: false } }),
    'deleted.files': JSON.stringify(['/bin/httpd']),
    'rootfs-diff.tar': readFileSync(`${diff}.tar`),
    ...o.files,
  };
  for (const m of o.omit ?? []) delete files[m];
  return files;
}

/** A checkpoint archive made by hand. */
function handMadeArchive(name: string, o: ArchiveSpec): string {
  const root = join(dir, `${name}.d`);
  const files = archiveFiles(name, o);
  for (const [f, content] of Object.entries(files)) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), content);
  }
  const archive = join(dir, `${name}.tar`);
  execFileSync('tar', ['-cf', archive, '-C', root, ...new Set(Object.keys(files).map((f) => f.split('/')[0]!))]);
  return archive;
}

test('restore: CreateContainer from an archive applies its rootfs diff and dumped process; StartContainer runs runc restore; bad archives refused by name', async (t) => {
  const img = (await d.client.call<{ image: { id: string } }>('ImageStatus', { image: { image: fx.image } })).image;
  const pod = await runPod(d);
  const archive = handMadeArchive('good', { image: fx.image, imageId: img.id });
  const id = await createContainer(d, pod, archive, { metadata: { name: 'restored' } });
  assert.equal((await status(d, id)).state, 'CONTAINER_CREATED');
  const rootfs = join(d.state, 'containers', id, 'rootfs');
  assert.equal(readFileSync(join(rootfs, 'srv', 'restored.txt'), 'utf8'), 'from the archive\n');
  assert.ok(!existsSync(join(rootfs, 'bin', 'httpd')), 'deleted.files applied');
  assert.ok(existsSync(join(rootfs, 'bin', 'busybox')));
  const spec = JSON.parse(readFileSync(join(d.state, 'containers', id, 'config.json'), 'utf8')) as { process: { args: string[]; cwd: string; env: string[] } };
  assert.deepEqual(spec.process.args, ['sleep', '4242']);
  assert.equal(spec.process.cwd, '/srv');
  assert.ok(existsSync(join(d.root, 'checkpoints', id, 'checkpoint', 'core-1.img')));
  // A hand-made core image is no process CRIU can restore: StartContainer reaches runc restore and reports its failure.
  await assert.rejects(d.client.call('StartContainer', { containerId: id }), (e: CallError) => {
    t.diagnostic(`StartContainer of a hand-made checkpoint answered: ${e.details}`);
    return e.code === 9 && new RegExp(`restoring container ${id}`).test(e.details) && /criu/i.test(e.details);
  });
  const st = await waitState(d, id, 'CONTAINER_EXITED');
  assert.equal(st.reason, 'StartError');
  await d.client.call('RemoveContainer', { containerId: id });
  assert.deepEqual(leftInStore(), [], 'the unpacked archive goes with the container');

  const refused = async (image: string, code: number, re: RegExp): Promise<void> => {
    await assert.rejects(createContainer(d, pod, image), (e: CallError) => e.code === code && re.test(e.details));
  };
  await refused(join(dir, 'missing.tar'), 5, /checkpoint archive ".*missing\.tar" does not exist/);
  writeFileSync(join(dir, 'corrupt.tar'), Buffer.alloc(4096, 7));
  await refused(join(dir, 'corrupt.tar'), 3, /corrupt\.tar" cannot be unpacked/);
  await refused(handMadeArchive('nospec', { image: fx.image, imageId: img.id, omit: ['spec.dump'] }), 3, /nospec\.tar" has no spec\.dump/);
  await refused(handMadeArchive('badjson', { image: fx.image, imageId: img.id, files: { 'config.dump': '{' } }), 3, /badjson\.tar": config\.dump is not valid JSON/);
  await refused(handMadeArchive('arm', { image: fx.image, imageId: img.id, arch: 3 }), 9, /arm\.tar" was taken on arm64/);
  await refused(handMadeArchive('noimage', { image: '127.0.0.1:1/none:v1', imageId: `sha256:${'0'.repeat(64)}` }), 5, /noimage\.tar" was taken from image "127\.0\.0\.1:1\/none:v1"/);
  assert.deepEqual(leftInStore(), [], 'nothing unpacked is left');
  const list = await d.client.call<{ containers: unknown[] }>('ListContainers', { filter: { podSandboxId: pod.id } });
  assert.equal(list.containers.length, 0);

  // An OCI image built from an archive, marked with CRI-O's checkpoint annotation.
  const ckptImage = async (name: string, arch?: number): Promise<string> => {
    const files = archiveFiles(name, { image: fx.image, imageId: img.id, arch });
    const built = await buildAndPush(fx.registry, `test/${name}`, 'v1', {
      base: false, annotations: { 'io.kubernetes.cri-o.annotations.checkpoint.name': 'web' },
      layers: [{ files: Object.entries(files).map(([path, content]) => ({ path, content })) }],
    });
    await d.client.call('PullImage', { image: { image: built.ref } });
    return built.ref;
  };
  const fromImage = await createContainer(d, pod, await ckptImage('ckptimg'));
  assert.equal((await status(d, fromImage)).state, 'CONTAINER_CREATED');
  assert.equal(readFileSync(join(d.state, 'containers', fromImage, 'rootfs', 'srv', 'restored.txt'), 'utf8'), 'from the archive\n');
  assert.deepEqual(JSON.parse(readFileSync(join(d.state, 'containers', fromImage, 'config.json'), 'utf8')).process.args, ['sleep', '4242']);
  await refused(await ckptImage('ckptarm', 3), 9, /checkpoint image ".*ckptarm:v1" was taken on arm64/);
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
  assert.deepEqual(leftInStore(), []);
});

test('CheckpointPod: options, containers and output directory checked, naming what is wrong; the dump leaves nothing behind when CRIU fails', async () => {
  const pod = await runPod(d);
  const other = await runPod(d);
  const running = await runContainer(d, pod, fx.image, { command: counter });
  const created = await createContainer(d, pod, fx.image);
  const elsewhere = await runContainer(d, other, fx.image);
  const out = join(dir, 'podckpt');
  mkdirSync(out);
  const call = (containerIds: string[], options: Record<string, string> = {}, outputPath = out): Promise<unknown> =>
    d.client.call('CheckpointPod', { podSandboxId: pod.id, outputPath, containerIds, options }, 300_000);
  const refused = async (p: Promise<unknown>, code: number, re: RegExp): Promise<void> => {
    await assert.rejects(p, (e: CallError) => e.code === code && re.test(e.details));
  };
  await refused(call([running], { leave: 'x' }), 3, /options: unknown key "leave"/);
  await refused(call([]), 3, /container_ids must name at least one/);
  await refused(call([running, running]), 3, new RegExp(`${running} is named twice`));
  await refused(call([elsewhere]), 3, new RegExp(`${elsewhere} is not in pod`));
  await refused(call([created]), 9, new RegExp(`${created} is CREATED`));
  await refused(call([running], {}, join(dir, 'nope')), 5, /output_path ".*nope" does not exist/);
  await refused(call([running], {}, 'rel'), 3, /output_path "rel" is not an absolute path/);
  mkdirSync(join(dir, 'full'));
  writeFileSync(join(dir, 'full', 'x'), '');
  await refused(call([running], {}, join(dir, 'full')), 9, /is not empty/);
  await refused(d.client.call('CheckpointPod', { podSandboxId: 'f'.repeat(64), outputPath: out, containerIds: [running] }), 5, /f{12}/);
  if (!criuWorks) {
    await refused(call([running]), 9, /checkpointing container .*criu/i);
    assert.deepEqual(readdirSync(out), [], 'nothing written into the caller\'s directory');
  } else {
    await call([running]);
    assert.equal(readdirSync(out).filter((n) => n.endsWith('.tar')).length, 1);
    assert.ok(existsSync(join(out, 'pod.dump')) && existsSync(join(out, 'pod.options')));
  }
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
  await d.client.call('RemovePodSandbox', { podSandboxId: other.id });
});

test('RestorePod: a pod and its containers (CREATED) from a pod checkpoint directory; bad directories and configs refused, nothing left', async () => {
  const img = (await d.client.call<{ image: { id: string } }>('ImageStatus', { image: { image: fx.image } })).image;
  const ckpt = join(dir, 'podrestore');
  mkdirSync(ckpt);
  execFileSync('cp', [handMadeArchive('web', { image: fx.image, imageId: img.id }), join(ckpt, 'web.tar')]);
  writeFileSync(join(ckpt, 'pod.dump'), JSON.stringify({ metadata: { name: 'orig', uid: 'u', namespace: 'n' } }));
  writeFileSync(join(ckpt, 'pod.options'), JSON.stringify({ version: 1, containers: ['web'], mountLabel: '', processLabel: '' }));
  const podsBefore = (await d.client.call<{ items: unknown[] }>('ListPodSandbox', {})).items.length;
  const restore = (checkpointPath: string, names: string[], options: Record<string, string> = {}): Promise<{ podSandboxId: string; restoredContainers: { name: string; containerId: string }[] }> => {
    const config = podConfigFor();
    return d.client.call('RestorePod', { checkpointPath, config, options, containerConfigs: names.map((n) => ({ metadata: { name: n }, image: { image: '' } })) });
  };
  const refused = async (p: Promise<unknown>, code: number, re: RegExp): Promise<void> => {
    await assert.rejects(p, (e: CallError) => e.code === code && re.test(e.details));
  };
  await refused(restore(join(dir, 'absent'), ['web']), 5, /checkpoint_path ".*absent" is not a directory/);
  await refused(restore(dir, ['web']), 3, /has no pod\.dump/);
  await refused(restore(ckpt, ['web'], { x: '1' }), 3, /options: unknown key "x"/);
  await refused(restore(ckpt, ['db']), 3, /"db" is not a container of the checkpoint/);
  await refused(restore(ckpt, []), 3, /no config for checkpointed container "web"/);
  const armDir = join(dir, 'podarm');
  mkdirSync(armDir);
  execFileSync('cp', [handMadeArchive('webarm', { image: fx.image, imageId: img.id, arch: 3 }), join(armDir, 'web.tar')]);
  execFileSync('cp', [join(ckpt, 'pod.dump'), join(ckpt, 'pod.options'), armDir]);
  await refused(restore(armDir, ['web']), 9, /taken on arm64/);
  assert.equal((await d.client.call<{ items: unknown[] }>('ListPodSandbox', {})).items.length, podsBefore, 'a refused restore removes its pod');
  assert.deepEqual(leftInStore(), []);

  const r = await restore(ckpt, ['web']);
  assert.equal(r.restoredContainers.length, 1);
  assert.equal(r.restoredContainers[0]!.name, 'web');
  const cid = r.restoredContainers[0]!.containerId;
  assert.equal((await status(d, cid)).state, 'CONTAINER_CREATED');
  assert.equal(readFileSync(join(d.state, 'containers', cid, 'rootfs', 'srv', 'restored.txt'), 'utf8'), 'from the archive\n');
  await d.client.call('RemovePodSandbox', { podSandboxId: r.podSandboxId });
  assert.deepEqual(leftInStore(), []);
});

test('a container created from a checkpoint survives a SIGKILL of berthd: still CREATED after the restart, its rootfs and unpacked archive kept', async () => {
  const img = (await d.client.call<{ image: { id: string } }>('ImageStatus', { image: { image: fx.image } })).image;
  const d1 = await startPodDaemon(fx.image);
  const pod = await runPod(d1);
  const id = await createContainer(d1, pod, handMadeArchive('restart', { image: fx.image, imageId: img.id }));
  await d1.kill();
  const d2 = await restartPodDaemon(d1);
  try {
    assert.equal((await status(d2, id)).state, 'CONTAINER_CREATED');
    assert.equal(readFileSync(join(d2.state, 'containers', id, 'rootfs', 'srv', 'restored.txt'), 'utf8'), 'from the archive\n');
    assert.ok(existsSync(join(d2.root, 'checkpoints', id, 'checkpoint', 'core-1.img')));
    await assert.rejects(d2.client.call('StartContainer', { containerId: id }), (e: CallError) => e.code === 9 && /restoring container/.test(e.details));
    await d2.client.call('RemovePodSandbox', { podSandboxId: pod.id });
    assert.ok(!existsSync(join(d2.root, 'checkpoints', id)));
  } finally {
    await stopLeavingNothing(d2);
  }
});

let podSeq = 0;
function podConfigFor(): Record<string, unknown> {
  const n = `restored${process.pid}-${podSeq++}`;
  return { metadata: { name: n, namespace: 'test', uid: `uid-${n}`, attempt: 0 }, hostname: n };
}
