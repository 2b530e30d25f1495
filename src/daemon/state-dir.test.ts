import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTmpfs, prepareStateDir } from './state-dir.js';
import { umount } from '../util/mount.js';

const mounted = (p: string): string | undefined =>
  readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === p);

test('an empty state directory on disk gets a tmpfs, once; a populated one, no CAP_SYS_ADMIN or state_tmpfs=false keeps the disk', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-state-'));
  try {
    assert.equal(isTmpfs(dir), false, 'the test needs /tmp on a disk filesystem');
    const fresh = join(dir, 'fresh', 'state'); // created, parents too
    assert.equal((await prepareStateDir(fresh, true)).kind, 'mounted-tmpfs');
    assert.equal(isTmpfs(fresh), true);
    const line = mounted(fresh) ?? '';
    assert.match(line, /^tmpfs \S+ tmpfs /);
    assert.match(line, /nosuid,nodev/);
    writeFileSync(join(fresh, 'pidfile'), '1');
    // A restart finds the tmpfs and its files and mounts nothing over them.
    assert.equal((await prepareStateDir(fresh, true)).kind, 'tmpfs');
    assert.equal(readFileSync(join(fresh, 'pidfile'), 'utf8'), '1');
    assert.equal(readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1] === fresh).length, 1);

    // A state directory a previous berthd filled on disk: a mount would hide its containers.
    const used = join(dir, 'used');
    mkdirSync(used);
    writeFileSync(join(used, 'berth.sock'), '');
    assert.equal((await prepareStateDir(used, true)).kind, 'disk-not-empty');
    assert.equal(mounted(used), undefined);

    // Without CAP_SYS_ADMIN the mount fails and the disk serves.
    const module = new URL('./state-dir.js', import.meta.url).pathname;
    const unprivileged = execFileSync('setpriv', ['--bounding-set=-sys_admin', '--inh-caps=-sys_admin', process.execPath, '--input-type=module', '-e',
      `const m = await import(${JSON.stringify(module)}); console.log(JSON.stringify(await m.prepareStateDir(${JSON.stringify(join(dir, 'nocap'))}, true)));`], { encoding: 'utf8' });
    const res = JSON.parse(unprivileged) as { kind: string; error: string };
    assert.equal(res.kind, 'mount-failed');
    assert.match(res.error, /EPERM/);
    assert.equal(mounted(join(dir, 'nocap')), undefined);

    const off = join(dir, 'off');
    assert.equal((await prepareStateDir(off, false)).kind, 'disk');
    assert.equal(mounted(off), undefined);
  } finally {
    await umount(join(dir, 'fresh', 'state')).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
