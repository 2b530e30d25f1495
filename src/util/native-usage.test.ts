// The native module's layer walk (usage) against du's way of counting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadNativeModule } from './native.js';

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-usage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** du's own figures: allocated bytes and inodes, hard links once. */
function du(path: string): [number, number] {
  const bytes = Number(execFileSync('du', ['-s', '--block-size=1', path], { encoding: 'utf8' }).split('\t')[0]);
  const inodes = Number(execFileSync('du', ['-s', '--inodes', path], { encoding: 'utf8' }).split('\t')[0]);
  return [bytes, inodes];
}

test('usage counts a tree as du does: the root, every entry, a hard-linked file once, a symlink not followed', async (t) => {
  const root = scratch(t);
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  writeFileSync(join(root, 'a', 'f'), 'x'.repeat(10_000));
  linkSync(join(root, 'a', 'f'), join(root, 'a', 'b', 'same'));
  writeFileSync(join(root, 'a', 'b', 'big'), Buffer.alloc(200_000, 1));
  symlinkSync('/usr', join(root, 'a', 'usr'));
  const [got] = await loadNativeModule().usage([root]);
  assert.deepEqual(got, du(root));
  // root, a, b, f (its second link not counted), big, the symlink
  assert.equal(got![1], 6);
});

test('usage answers each root of a batch, null for one that is not there, and a file root alone', async (t) => {
  const root = scratch(t);
  mkdirSync(join(root, 'one'));
  mkdirSync(join(root, 'two'));
  writeFileSync(join(root, 'two', 'f'), 'hello');
  const [one, missing, two, file] = await loadNativeModule().usage([join(root, 'one'), join(root, 'gone'), join(root, 'two'), join(root, 'two', 'f')]);
  assert.deepEqual(one, du(join(root, 'one')));
  assert.equal(missing, null);
  assert.deepEqual(two, du(join(root, 'two')));
  assert.deepEqual(file, [lstatSync(join(root, 'two', 'f')).blocks * 512, 1]);
  assert.deepEqual(await loadNativeModule().usage([]), []);
});

test('usage counts hard links once per root, not once per batch', async (t) => {
  const root = scratch(t);
  mkdirSync(join(root, 'x'));
  mkdirSync(join(root, 'y'));
  writeFileSync(join(root, 'x', 'f'), 'x'.repeat(8192));
  linkSync(join(root, 'x', 'f'), join(root, 'y', 'f'));
  const [x, y] = await loadNativeModule().usage([join(root, 'x'), join(root, 'y')]);
  assert.deepEqual(x, y, 'each root sees its link');
  assert.equal(x![1], 2);
});

test('usage of a wide tree with many hard links (the inode set grows)', async (t) => {
  const root = scratch(t);
  writeFileSync(join(root, 'orig'), 'data');
  for (let i = 0; i < 300; i++) {
    writeFileSync(join(root, `f${i}`), 'y');
    linkSync(join(root, `f${i}`), join(root, `l${i}`));
  }
  const [got] = await loadNativeModule().usage([root]);
  assert.deepEqual(got, du(root));
  assert.equal(got![1], 302);
});

test('usage rejects what is not a list of paths', () => {
  const native = loadNativeModule() as unknown as { usage(x: unknown): unknown };
  assert.throws(() => native.usage('not a list'), TypeError);
  assert.throws(() => native.usage([1]), TypeError);
});
