import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJson, replaceFile, replaceFileAsync, sweepTempFiles, writeFileAtomic } from './atomic-file.js';

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-atomic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('replaceFile makes the directory, replaces whole content, and leaves no temp file', async (t) => {
  const dir = join(scratch(t), 'a', 'b');
  const file = join(dir, 'rec.json');
  const errors: Error[] = [];
  replaceFile(file, '{"v":1}', (e) => errors.push(e));
  assert.equal(readFileSync(file, 'utf8'), '{"v":1}', 'in place when the call returns');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  for (let i = 2; i <= 50; i++) replaceFile(file, JSON.stringify({ v: i, pad: 'x'.repeat(i * 100) }), (e) => errors.push(e));
  assert.equal((await readJson<{ v: number }>(file))?.v, 50);
  assert.deepEqual(readdirSync(dir), ['rec.json'], 'no temporary file left');
  // The flush runs behind the calls; it reports nothing when the disk is fine.
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(errors, []);
});

test('a file removed before its delayed flush is not an error', async (t) => {
  const dir = scratch(t);
  const errors: Error[] = [];
  replaceFile(join(dir, 'gone.json'), '{}', (e) => errors.push(e));
  rmSync(dir, { recursive: true, force: true });
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(errors, []);
});

test('writeFileAtomic is durable and atomic; sweepTempFiles removes what a crash left', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'x');
  await writeFileAtomic(file, 'one');
  await writeFileAtomic(file, 'two');
  assert.equal(readFileSync(file, 'utf8'), 'two');
  writeFileSync(join(dir, '.x.deadbeef.tmp'), 'torn');
  writeFileSync(join(dir, '.keep'), 'not ours');
  await sweepTempFiles(dir);
  assert.deepEqual(readdirSync(dir).sort(), ['.keep', 'x']);
});

test('readJson: undefined for a missing file, an error for a torn one', async (t) => {
  const dir = scratch(t);
  assert.equal(await readJson(join(dir, 'none.json')), undefined);
  writeFileSync(join(dir, 'torn.json'), '{"a":');
  await assert.rejects(readJson(join(dir, 'torn.json')), SyntaxError);
});

test('replaceFileAsync: the same on the thread pool', async (t) => {
  const dir = join(scratch(t), 'x', 'y');
  const file = join(dir, 'hold.json');
  const errors: Error[] = [];
  await replaceFileAsync(file, 'a', (e) => errors.push(e));
  await Promise.all(Array.from({ length: 20 }, (_, i) => replaceFileAsync(file, `v${i}`, (e) => errors.push(e))));
  assert.match(readFileSync(file, 'utf8'), /^v\d+$/);
  assert.deepEqual(readdirSync(dir), ['hold.json']);
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(errors, []);
});
