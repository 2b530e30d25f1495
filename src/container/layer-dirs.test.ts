import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WritableLayerDirs } from './layer-dirs.js';

const spares = (base: string): string[] => readdirSync(base).filter((n) => n.startsWith('.spare-')).sort();
const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('writable layer directories: spares made ahead are renamed into place; none left, they are made; a restart keeps whole spares only', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'berth-layers-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  // What a killed berthd can leave: a whole spare, a half-made one, one somebody wrote into.
  mkdirSync(join(base, '.spare-whole', 'fs', 'upper'), { recursive: true });
  mkdirSync(join(base, '.spare-whole', 'fs', 'work'));
  mkdirSync(join(base, '.spare-half', 'fs', 'upper'), { recursive: true });
  mkdirSync(join(base, '.spare-used', 'fs', 'upper'), { recursive: true });
  mkdirSync(join(base, '.spare-used', 'fs', 'work'));
  writeFileSync(join(base, '.spare-used', 'fs', 'upper', 'file'), 'x');
  mkdirSync(join(base, 'somecontainer'));

  const dirs = new WritableLayerDirs(base, 2);
  t.after(() => dirs.close());
  await dirs.open();
  assert.deepEqual(spares(base), ['.spare-whole']);
  assert.ok(existsSync(join(base, 'somecontainer')), 'containers\' directories are not touched');

  // The whole spare becomes the first container's directories (same inode: renamed, not made).
  const inode = statSync(join(base, '.spare-whole', 'fs', 'upper')).ino;
  await dirs.make('c1');
  assert.equal(statSync(dirs.upper('c1')).ino, inode);
  assert.deepEqual(readdirSync(dirs.upper('c1')), []);
  assert.deepEqual(readdirSync(dirs.work('c1')), []);
  assert.deepEqual(spares(base), []);

  // None left: made on the spot.
  await dirs.make('c2');
  assert.ok(statSync(dirs.upper('c2')).isDirectory());
  assert.ok(statSync(dirs.work('c2')).isDirectory());

  // Topped up a moment later, to the pool's size.
  await settle(500);
  assert.equal(spares(base).length, 2);
  for (const s of spares(base)) assert.deepEqual(readdirSync(join(base, s, 'fs')).sort(), ['upper', 'work']);
  await dirs.make('c3');
  assert.equal(spares(base).length, 1);
  assert.deepEqual(readdirSync(dirs.upper('c3')), []);
});
