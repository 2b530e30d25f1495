import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskUsage, imageStoreCache } from './usage.js';

test('image store usage: layers and blobs walked once, the rest every time, gone entries forgotten', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'berth-usage-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const layer = join(root, 'layers', 'a'.repeat(64));
  mkdirSync(join(layer, 'bin'), { recursive: true });
  writeFileSync(join(layer, 'bin', 'tool'), Buffer.alloc(10_000));
  linkSync(join(layer, 'bin', 'tool'), join(layer, 'bin', 'alias'));
  mkdirSync(join(root, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(root, 'blobs', 'sha256', 'b'.repeat(64)), Buffer.alloc(5000));
  mkdirSync(join(root, 'records'));
  writeFileSync(join(root, 'records', 'x.json'), '{}');

  const cache = imageStoreCache(root);
  const plain = await diskUsage(root);
  assert.deepEqual(await diskUsage(root, cache), plain, 'the same figures as a full walk');
  assert.equal(cache.known.size, 2, 'one layer and one blob remembered');

  // What is named by its content is not walked again (nothing may change it in place)…
  writeFileSync(join(layer, 'bin', 'added'), Buffer.alloc(8192));
  // …records and entries in the making are.
  writeFileSync(join(root, 'records', 'y.json'), Buffer.alloc(8192));
  mkdirSync(join(root, 'layers', '.tmp-cccc'));
  writeFileSync(join(root, 'layers', '.tmp-cccc', 'f'), Buffer.alloc(8192));
  const again = await diskUsage(root, cache);
  assert.equal(again.inodes, plain.inodes + 3, 'the new record, and the temporary directory and its file');

  rmSync(layer, { recursive: true });
  const after = await diskUsage(root, cache);
  assert.equal(cache.known.size, 1, 'the removed layer is forgotten');
  assert.deepEqual(after, await diskUsage(root));
});
