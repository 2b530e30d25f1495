import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mount, umount, MountError, MS, MNT_DETACH } from './mount.js';

function mountLine(target: string): string | undefined {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === target);
}

function scratch(t: { after(fn: () => Promise<void>): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-mount-'));
  t.after(async () => {
    // Whatever a failed assertion left mounted goes first, deepest first.
    const left = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir));
    for (const m of left.reverse()) await umount(m, MNT_DETACH).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

test('mount and umount a tmpfs with flags and data', async (t) => {
  const dir = scratch(t);
  const target = join(dir, 'shm');
  mkdirSync(target);
  await mount('shm', target, 'tmpfs', MS.NOSUID | MS.NODEV | MS.NOEXEC, 'mode=1777,size=1048576');
  const line = mountLine(target);
  assert.ok(line, 'mounted');
  assert.match(line, /nosuid,nodev,noexec/);
  assert.match(line, / - tmpfs shm rw,.*size=1024k/);
  assert.equal(statSync(target).mode & 0o7777, 0o1777, 'mode from the data string');
  writeFileSync(join(target, 'f'), 'x');
  await umount(target);
  assert.equal(mountLine(target), undefined, 'unmounted');
  assert.equal(existsSync(join(target, 'f')), false, 'the file lived on the tmpfs only');
});

test('overlay of two lower layers under a writable upper', async (t) => {
  const dir = scratch(t);
  for (const d of ['l1', 'l2', 'upper', 'work', 'merged']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'l1', 'a'), 'from l1');
  writeFileSync(join(dir, 'l1', 'b'), 'from l1');
  writeFileSync(join(dir, 'l2', 'b'), 'from l2');
  const merged = join(dir, 'merged');
  await mount('overlay', merged, 'overlay', 0, `lowerdir=${join(dir, 'l2')}:${join(dir, 'l1')},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`);
  t.after(() => umount(merged, MNT_DETACH).catch(() => undefined));
  assert.equal(readFileSync(join(merged, 'a'), 'utf8'), 'from l1');
  assert.equal(readFileSync(join(merged, 'b'), 'utf8'), 'from l2', 'the first lowerdir is on top');
  writeFileSync(join(merged, 'c'), 'new');
  assert.equal(readFileSync(join(dir, 'upper', 'c'), 'utf8'), 'new', 'writes land in the upper');
  await umount(merged);
});

test('a bind mount made shared, then private', async (t) => {
  const dir = scratch(t);
  const src = join(dir, 'src');
  mkdirSync(src);
  await mount(src, src, null, MS.BIND);
  await mount(null, src, null, MS.SHARED | MS.REC);
  assert.match(mountLine(src) ?? '', / shared:\d+/);
  await mount(null, src, null, MS.PRIVATE);
  assert.doesNotMatch(mountLine(src) ?? '', / shared:\d+/);
  await umount(src);
});

test('errors carry the errno name and say what failed', async (t) => {
  const dir = scratch(t);
  await assert.rejects(mount('shm', join(dir, 'missing'), 'tmpfs', 0), (err: unknown) => {
    assert.ok(err instanceof MountError);
    assert.equal(err.code, 'ENOENT');
    assert.match(err.message, /^mount tmpfs shm on .*missing: ENOENT/);
    return true;
  });
  await assert.rejects(mount('x', dir, 'no-such-fs', 0), (err: MountError) => err.code === 'ENODEV');
  await assert.rejects(umount(dir), (err: MountError) => err.code === 'EINVAL' && /umount2 .*EINVAL/.test(err.message));
});

test('a busy mount cannot be unmounted, but can be detached', async (t) => {
  const dir = scratch(t);
  const target = join(dir, 'busy');
  mkdirSync(target);
  await mount('busy', target, 'tmpfs', 0, 'size=65536');
  writeFileSync(join(target, 'held'), 'x');
  const fd = openSync(join(target, 'held'), 'r');
  try {
    await assert.rejects(umount(target), (err: MountError) => err.code === 'EBUSY');
    await umount(target, MNT_DETACH);
    assert.equal(mountLine(target), undefined, 'detached from the tree');
    assert.equal(readFileSync(fd, 'utf8'), 'x', 'the open file still reads');
  } finally {
    closeSync(fd);
  }
});

test('bad arguments are refused before reaching the kernel', async () => {
  const { loadNativeModule } = await import('./native.js');
  const n = loadNativeModule();
  assert.throws(() => n.mount(null, null as unknown as string, 'tmpfs', 0, null), /target must be a string/);
  assert.throws(() => n.mount(null, '/x', 'tmpfs', -1, null), /flags a non-negative number/);
  assert.throws(() => (n.umount as unknown as (a: string) => unknown)('/x'), /umount\(target, flags\)/);
});
