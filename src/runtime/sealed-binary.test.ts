// The sealed in-memory copy of an OCI runtime's binary: what it holds, that
// nothing can change it, and that a replaced binary is copied again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, ftruncateSync, readlinkSync, mkdtempSync, readFileSync, rmSync, renameSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadNativeModule } from '../util/native.js';
import { SealedBinary } from './sealed-binary.js';

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sealed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const fdOf = (path: string): number => Number(/\/fd\/(\d+)$/.exec(path)![1]);

test('sealedCopy holds the file\'s bytes, runs as it, and refuses writes, growth and truncation', (t) => {
  const native = loadNativeModule();
  const fd = native.sealedCopy('/bin/echo');
  t.after(() => closeSync(fd));
  const path = `/proc/${process.pid}/fd/${fd}`;
  assert.deepEqual(readFileSync(path), readFileSync('/bin/echo'));
  assert.match(execFileSync('readlink', [path], { encoding: 'utf8' }), /^\/memfd:\/bin\/echo \(deleted\)/);
  assert.equal(execFileSync(path, ['sealed'], { encoding: 'utf8' }), 'sealed\n');
  assert.throws(() => writeSync(fd, 'x', 0), { code: 'EPERM' });
  assert.throws(() => writeSync(fd, 'x', 100_000_000), { code: 'EPERM' });
  assert.throws(() => ftruncateSync(fd, 10), { code: 'EPERM' });
  assert.throws(() => native.sealedCopy('/no/such/binary'), /sealedCopy: reading \/no\/such\/binary: No such file/);
  assert.throws(() => (native.sealedCopy as unknown as (x: number) => number)(3), TypeError);
});

test('SealedBinary runs the copy, copies again once the binary on disk is replaced, and falls back to the file without a copy', (t) => {
  const dir = scratch(t);
  const original = join(dir, 'runtime');
  copyFileSync('/bin/echo', original);
  let now = 0;
  const binary = new SealedBinary(original, undefined, () => now);
  t.after(() => binary.close());

  const first = binary.path();
  assert.match(first, new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
  assert.equal(execFileSync(first, ['one'], { encoding: 'utf8' }), 'one\n');
  now += 500;
  assert.equal(binary.path(), first, 'looked at again only after a second');

  // An upgrade replaces the file (a new inode): the next look copies it.
  copyFileSync('/bin/true', join(dir, 'new'));
  renameSync(join(dir, 'new'), original);
  assert.equal(binary.path(), first, 'not yet looked at again');
  now += 600;
  const second = binary.path();
  assert.notEqual(second, first);
  assert.equal(execFileSync(second, ['two'], { encoding: 'utf8' }), '', 'the new binary (true) runs');
  // The retired copy stays open a while for a process handed its path.
  assert.deepEqual(readFileSync(first), readFileSync('/bin/echo'));

  // The file gone: the copy there is stays.
  rmSync(original);
  now += 1000;
  assert.equal(binary.path(), second);
  binary.close();
  let link = '';
  try {
    link = readlinkSync(`/proc/self/fd/${fdOf(second)}`);
  } catch {
    // closed, and its number not taken again
  }
  assert.ok(!link.startsWith(`/memfd:${original}`), 'close() closes the copy');

  const missing = new SealedBinary(join(dir, 'never-there'));
  assert.equal(missing.path(), join(dir, 'never-there'), 'no copy: the path as configured, which fails as it would');
});
