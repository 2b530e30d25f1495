// PullImage and the other image RPCs against a real registry fed with images
// the fixture builds from busybox; unpacked layers checked file by file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync, readdirSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { buildAndPush, pushBusybox, PASSWD } from '../helpers/images.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { CallError } from '../../src/cli/client.js';

interface CriImage { id: string; repoTags: string[]; repoDigests: string[]; size: string; uid: { value: string } | null; username: string; pinned: boolean }

let reg: TestRegistry;
let d: TestDaemon;

before(async () => {
  reg = await startRegistry();
  d = await startDaemon({ toml: `[image]\npinned = ["${reg.host}/test/pinned:v1"]\nretries = 1\n` });
});

after(async () => {
  await d?.stop();
  d?.cleanup();
  await reg?.stop();
});

const pull = (image: string, auth?: Record<string, string>) => d.client.call<{ imageRef: string }>('PullImage', { image: { image }, auth });
const status = (image: string, verbose = false) =>
  d.client.call<{ image: CriImage | null; info: Record<string, string> }>('ImageStatus', { image: { image }, verbose });
const list = async () => (await d.client.call<{ images: CriImage[] }>('ListImages', {})).images;
const layerDir = (diffId: string) => join(d.root, 'images/layers', diffId.slice(7));
const blobsDir = () => join(d.root, 'images/blobs/sha256');

async function pullError(image: string, auth?: Record<string, string>): Promise<CallError> {
  try {
    await pull(image, auth);
  } catch (err) {
    assert.ok(err instanceof CallError, String(err));
    return err;
  }
  assert.fail(`pull of ${image} succeeded`);
}

test('PullImage by tag and by digest; ListImages and ImageStatus agree', async () => {
  const img = await pushBusybox(reg);
  const res = await pull(img.ref);
  assert.equal(res.imageRef, img.configDigest);
  const byDigest = await pull(`${reg.host}/test/busybox@${img.digest}`);
  assert.equal(byDigest.imageRef, img.configDigest);
  const s = (await status(img.ref)).image!;
  assert.deepEqual(s.repoTags, [`${reg.host}/test/busybox:latest`]);
  assert.deepEqual(s.repoDigests, [`${reg.host}/test/busybox@${img.digest}`]);
  assert.equal(Number(s.size), img.layers.reduce((a, l) => a + l.size, 0) + Buffer.byteLength(JSON.stringify(img.config)));
  assert.equal(s.pinned, false);
  for (const q of [img.configDigest, img.configDigest.slice(7), img.configDigest.slice(7, 20), `${reg.host}/test/busybox@${img.digest}`]) {
    assert.equal((await status(q)).image?.id, img.configDigest, q);
  }
  assert.equal((await status(`${reg.host}/test/nothing:latest`)).image, null);
  assert.ok((await list()).some((i) => i.id === img.configDigest));
  const verbose = await status(img.ref, true);
  assert.deepEqual(JSON.parse(verbose.info.info).imageSpec.rootfs.diff_ids, img.layers.map((l) => l.diffId));
  // Base layer: busybox applets are hard links to one inode.
  const base = layerDir(img.layers[0].diffId);
  const bb = statSync(join(base, 'bin/busybox'));
  assert.equal(statSync(join(base, 'bin/sh')).ino, bb.ino);
  assert.ok(bb.nlink > 100);
  assert.equal(readFileSync(join(base, 'etc/passwd'), 'utf8'), PASSWD);
  assert.equal(statSync(join(base, 'tmp')).mode & 0o7777, 0o1777);
  assert.equal(statSync(join(base, 'home/app')).uid, 1000);
});

test('layers unpack file by file: owners, modes, mtimes, links, whiteouts and opaque dirs', async () => {
  const mtime = 1_600_000_000;
  const img = await buildAndPush(reg, 'test/layers', 'v1', {
    layers: [
      { files: [
        { path: 'srv/a.txt', content: 'alpha\n', mode: 0o640, uid: 1000, gid: 2000, mtime },
        { path: 'srv/exec.sh', content: '#!/bin/sh\n', mode: 0o4755 },
        { path: 'srv/sub', type: 'dir', mode: 0o750, uid: 1000, gid: 1000, mtime },
        { path: 'srv/sub/deep', content: 'deep' },
        { path: 'srv/link', type: 'symlink', target: 'a.txt' },
        { path: 'srv/abs', type: 'symlink', target: '/etc/passwd' },
        { path: 'srv/hard', type: 'hardlink', target: 'srv/a.txt' },
      ] },
      { files: [
        { path: 'etc/hostname', type: 'whiteout' },
        { path: 'srv/sub/deep', type: 'whiteout' },
        { path: 'var/www', type: 'opaque' },
        { path: 'var/www/new.html', content: 'new\n' },
      ] },
    ],
  });
  await pull(img.ref);
  const l1 = layerDir(img.layers[1].diffId);
  const a = lstatSync(join(l1, 'srv/a.txt'));
  assert.equal(readFileSync(join(l1, 'srv/a.txt'), 'utf8'), 'alpha\n');
  assert.deepEqual([a.mode & 0o7777, a.uid, a.gid, Math.round(a.mtimeMs / 1000)], [0o640, 1000, 2000, mtime]);
  assert.equal(lstatSync(join(l1, 'srv/exec.sh')).mode & 0o7777, 0o4755);
  const sub = lstatSync(join(l1, 'srv/sub'));
  assert.deepEqual([sub.isDirectory(), sub.mode & 0o7777, sub.uid, Math.round(sub.mtimeMs / 1000)], [true, 0o750, 1000, mtime]);
  assert.equal(readlinkSync(join(l1, 'srv/link')), 'a.txt');
  assert.equal(readlinkSync(join(l1, 'srv/abs')), '/etc/passwd');
  assert.equal(lstatSync(join(l1, 'srv/hard')).ino, a.ino);
  assert.deepEqual(readdirSync(join(l1, 'srv')).sort(), ['a.txt', 'abs', 'exec.sh', 'hard', 'link', 'sub']);

  const l2 = layerDir(img.layers[2].diffId);
  for (const w of ['etc/hostname', 'srv/sub/deep']) {
    const st = lstatSync(join(l2, w));
    assert.ok(st.isCharacterDevice(), `${w} is a whiteout device`);
    assert.equal(st.rdev, 0);
  }
  assert.deepEqual(readdirSync(join(l2, 'etc')), ['hostname']);
  assert.deepEqual(readdirSync(join(l2, 'var/www')), ['new.html']);
  const xattr = execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', join(l2, 'var/www')], { encoding: 'utf8' });
  assert.equal(xattr, 'y');
  assert.ok(!execFileSync('find', [l2, '-name', '.wh.*'], { encoding: 'utf8' }).trim(), 'no whiteout marker files left');
});

test('ImageStatus: numeric USER gives uid, named USER gives username', async () => {
  const byId = await buildAndPush(reg, 'test/user', 'uid', { config: { User: '1000:1000' } });
  const byName = await buildAndPush(reg, 'test/user', 'name', { config: { User: 'app' } });
  const root = await buildAndPush(reg, 'test/user', 'root', {});
  await Promise.all([pull(byId.ref), pull(byName.ref), pull(root.ref)]);
  const a = (await status(byId.ref)).image!;
  assert.deepEqual([a.uid?.value, a.username], ['1000', '']);
  const b = (await status(byName.ref)).image!;
  assert.deepEqual([b.uid, b.username], [null, 'app']);
  const c = (await status(root.ref)).image!;
  assert.deepEqual([c.uid, c.username], [null, '']);
});

test('multi-platform index (OCI and Docker manifest list): linux/amd64 is chosen', async () => {
  for (const format of ['oci', 'v2s2'] as const) {
    const img = await buildAndPush(reg, `test/multi-${format}`, 'v1', { platforms: ['linux/arm64', 'linux/amd64', 'linux/arm/v7'], format });
    await pull(img.ref);
    const s = await status(img.ref, true);
    const spec = JSON.parse(s.info.info).imageSpec;
    assert.equal(spec.config.Labels['berth.test.platform'], 'linux/amd64', format);
    assert.equal(spec.architecture, 'amd64');
  }
});

test('a tag moved to a new image leaves the old one untagged; pinned images are reported', async () => {
  const v1 = await buildAndPush(reg, 'test/moving', 'latest', { config: { Labels: { v: '1' } } });
  await pull(v1.ref);
  const v2 = await buildAndPush(reg, 'test/moving', 'latest', { config: { Labels: { v: '2' } } });
  await pull(v2.ref);
  const imgs = await list();
  const old = imgs.find((i) => i.id === v1.configDigest)!;
  const cur = imgs.find((i) => i.id === v2.configDigest)!;
  assert.deepEqual(old.repoTags, []);
  assert.deepEqual(cur.repoTags, [`${reg.host}/test/moving:latest`]);
  assert.equal((await status(v1.ref)).image?.id, v2.configDigest);
});

test('RemoveImage by tag frees what no other image uses and is idempotent', async () => {
  const img = await buildAndPush(reg, 'test/remove', 'v1', { layers: [{ files: [{ path: 'only-here', content: 'x' }] }] });
  await pull(img.ref);
  const shared = layerDir(img.layers[0].diffId);
  const own = layerDir(img.layers[1].diffId);
  assert.ok(existsSync(own));
  await d.client.call('RemoveImage', { image: { image: img.ref } });
  await d.client.call('RemoveImage', { image: { image: img.ref } });
  await d.client.call('RemoveImage', { image: { image: img.configDigest } });
  assert.equal((await status(img.ref)).image, null);
  assert.ok(!existsSync(own), 'layer only this image used is gone');
  assert.ok(!existsSync(join(blobsDir(), img.layers[1].digest.slice(7))));
  assert.ok(!existsSync(join(blobsDir(), img.configDigest.slice(7))));
  // busybox base layer is shared with images pulled by earlier tests.
  assert.ok(existsSync(shared));
});

test('ImageFsInfo reports bytes and inodes under the image store and its mount', async () => {
  const res = await d.client.call<{ imageFilesystems: { fsId: { mountpoint: string }; usedBytes: { value: string }; inodesUsed: { value: string }; timestamp: string }[] }>('ImageFsInfo', {});
  const fs = res.imageFilesystems[0];
  assert.ok(Number(fs.usedBytes.value) > 1_000_000);
  assert.ok(Number(fs.inodesUsed.value) > 10);
  assert.ok(join(d.root, 'images').startsWith(fs.fsId.mountpoint));
  assert.ok(Math.abs(Number(BigInt(fs.timestamp) / 1_000_000n) - Date.now()) < 60_000);
});

test('pull failures name the registry and what went wrong', async () => {
  let e = await pullError('Not A Ref');
  assert.equal(e.code, 3 /* INVALID_ARGUMENT */);
  assert.match(e.details, /"Not A Ref"/);
  e = await pullError(`${reg.host}/test/absent:v1`);
  assert.equal(e.code, 5 /* NOT_FOUND */);
  assert.match(e.details, new RegExp(`registry ${reg.host}: .*404`));
  e = await pullError('127.0.0.1:1/test/busybox:latest');
  assert.equal(e.code, 14 /* UNAVAILABLE */);
  assert.match(e.details, /registry 127\.0\.0\.1:1: .*ECONNREFUSED/);
});

test('tampered blob in the registry: digest mismatch, nothing stored', async () => {
  const img = await buildAndPush(reg, 'test/tamper', 'v1', { layers: [{ files: [{ path: 'payload', content: 'genuine content\n' }] }] });
  const victim = img.layers[1].digest;
  const path = reg.blobPath(victim);
  const data = readFileSync(path);
  data[data.length - 5] ^= 0xff;
  writeFileSync(path, data);
  const e = await pullError(img.ref);
  assert.match(e.details, new RegExp(`registry ${reg.host}: blob ${victim} has digest sha256:[0-9a-f]{64}`));
  assert.equal((await status(img.ref)).image, null);
  assert.ok(!existsSync(join(blobsDir(), victim.slice(7))));
  assert.ok(!existsSync(layerDir(img.layers[1].diffId)));
  assert.deepEqual(readdirSync(join(d.root, 'images/ingest')), []);
  assert.deepEqual(readdirSync(join(d.root, 'images/layers')).filter((f) => f.startsWith('.')), []);
});

test('zstd and uncompressed layers unpack like gzip ones', async () => {
  for (const compression of ['zstd', 'none'] as const) {
    const img = await buildAndPush(reg, `test/${compression}`, 'v1', { compression, layers: [{ files: [{ path: 'c/file', content: compression }, { path: 'etc/hostname', type: 'whiteout' }] }] });
    assert.equal((await pull(img.ref)).imageRef, img.configDigest);
    const l = layerDir(img.layers[1].diffId);
    assert.equal(readFileSync(join(l, 'c/file'), 'utf8'), compression);
    assert.ok(lstatSync(join(l, 'etc/hostname')).isCharacterDevice());
  }
});

test('berth pull on a terminal draws a bar per layer from the admin socket', async () => {
  const img = await buildAndPush(reg, 'test/bars', 'v1', { layers: [{ randomBytes: 8 << 20 }] });
  const { BERTH } = await import('../helpers/daemon.js');
  // `script` gives the CLI a pseudo-terminal.
  const out = execFileSync('script', ['-qec', `${process.execPath} ${BERTH} -r ${d.endpoint} pull ${img.ref}`, '/dev/null'], { encoding: 'utf8' });
  assert.match(out, new RegExp(`${img.layers[1].digest.slice(7, 19)}  \\[#+\\] .* done`));
  assert.match(out, new RegExp(`Image is up to date for ${img.configDigest}`));
});
