// The checkpoint archive without CRIU: written from a work directory laid
// out as `runc checkpoint` leaves it, read back, and applied to a root
// filesystem; the architecture of a CRIU core image; stale work after a
// crash. (CRIU itself is exercised by test/integration/checkpoint.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container } from './types.js';
import type { CheckpointerDeps } from './checkpointer.js';
import { ContainerCheckpointer } from './checkpointer.js';
import { ContainerPaths } from './paths.js';
import { applyRootfsDiff, criuArch, hostArch, openArchive, writeArchive } from './checkpoint.js';
import type { Config } from '../config/config.js';

function coreImage(mtype: number): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt32LE(0x54564319, 0);
  b.writeUInt32LE(0x55053847, 4);
  b.writeUInt32LE(2, 8);
  b[12] = 0x08;
  b[13] = mtype;
  return b;
}

test('CRIU core images name their machine', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-core-'));
  try {
    assert.equal(await criuArch(dir), undefined);
    writeFileSync(join(dir, 'core-7.img'), coreImage(3));
    assert.equal(await criuArch(dir), 'arm64');
    writeFileSync(join(dir, 'core-1.img'), coreImage(1));
    assert.equal(await criuArch(dir), 'amd64', 'the lowest-numbered core image is read');
    writeFileSync(join(dir, 'core-1.img'), Buffer.alloc(5));
    await assert.rejects(criuArch(dir), /truncated/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('archive: written in the peers\' layout (whiteouts listed, not packed), read back, its diff applied', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-archive-'));
  try {
    const work = join(dir, 'work');
    mkdirSync(join(work, 'checkpoint'), { recursive: true });
    writeFileSync(join(work, 'checkpoint', 'core-1.img'), coreImage(1));
    writeFileSync(join(work, 'dump.log'), 'dumped\n');
    const upper = join(dir, 'upper');
    mkdirSync(join(upper, 'etc'), { recursive: true });
    writeFileSync(join(upper, 'etc', 'new.conf'), 'new\n');
    execFileSync('mknod', [join(upper, 'etc', 'gone.conf'), 'c', '0', '0']);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ process: { args: ['app'], cwd: '/' } }));
    writeFileSync(join(dir, 'ctr.log'), 'line\n');
    const c = {
      id: 'a'.repeat(64), createdAt: Date.parse('2026-01-01T00:00:00Z'), imageId: 'sha256:img', imageRef: 'reg/app@sha256:d',
      config: { name: 'app', image: 'reg/app:v1' },
    } as unknown as Container;
    const dest = join(dir, 'out.tar');
    await writeArchive({ container: c, work, spec: join(dir, 'config.json'), upper, runtime: 'runc', logPath: join(dir, 'ctr.log') }, dest);
    const members = execFileSync('tar', ['-tf', dest], { encoding: 'utf8' }).trim().split('\n').sort();
    assert.deepEqual(members, ['checkpoint/', 'checkpoint/core-1.img', 'config.dump', 'container.log', 'deleted.files', 'dump.log', 'rootfs-diff.tar', 'spec.dump']);
    await assert.rejects(writeArchive({ container: c, work, spec: join(dir, 'config.json'), upper, runtime: 'runc', logPath: '' }, dest), /already exists/);
    const opened = await openArchive(dest, join(dir, 'opened'));
    assert.deepEqual({ ...opened.config, checkpointedTime: '' }, {
      id: c.id, name: 'app', rootfsImage: 'reg/app:v1', rootfsImageRef: 'sha256:img', rootfsImageName: 'reg/app@sha256:d', runtime: 'runc',
      createdTime: '2026-01-01T00:00:00.000Z', checkpointedTime: '', arch: hostArch(),
    });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'opened', 'deleted.files'), 'utf8')), ['/etc/gone.conf']);
    const diff = execFileSync('tar', ['-tf', join(dir, 'opened', 'rootfs-diff.tar')], { encoding: 'utf8' });
    assert.ok(diff.includes('etc/new.conf') && !diff.includes('gone.conf'));
    const rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    writeFileSync(join(rootfs, 'etc', 'gone.conf'), 'old\n');
    writeFileSync(join(dir, 'opened', 'deleted.files'), JSON.stringify(['/etc/gone.conf', '/../../outside', 5]));
    writeFileSync(join(dir, 'outside'), 'stays');
    await applyRootfsDiff(join(dir, 'opened'), rootfs);
    assert.equal(readFileSync(join(rootfs, 'etc', 'new.conf'), 'utf8'), 'new\n');
    assert.ok(!existsSync(join(rootfs, 'etc', 'gone.conf')));
    assert.ok(existsSync(join(dir, 'outside')), 'a deleted path outside the root filesystem is ignored');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('after a crash: work directories, unpacked archives of unknown containers and cut archives go; known ones stay', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-stale-'));
  try {
    const config = { daemon: { root: join(dir, 'root'), state: join(dir, 'state') } } as Config;
    const paths = new ContainerPaths(config);
    const ckpt = new ContainerCheckpointer({ paths, config } as unknown as CheckpointerDeps);
    mkdirSync(join(paths.checkpoint('known'), 'checkpoint'), { recursive: true });
    mkdirSync(paths.checkpoint('gone'), { recursive: true });
    const work = paths.checkpoint('.work-x');
    mkdirSync(work, { recursive: true });
    const partial = join(dir, '.abc.checkpoint-tmp');
    writeFileSync(partial, 'half');
    writeFileSync(join(work, '.partial'), partial);
    await ckpt.removeStale(new Set(['known']));
    assert.ok(existsSync(paths.checkpoint('known')));
    assert.ok(!existsSync(paths.checkpoint('gone')));
    assert.ok(!existsSync(work));
    assert.ok(!existsSync(partial));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
