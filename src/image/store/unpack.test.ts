// Layer unpacking refuses entries that climb out of the layer directory and
// verifies the diff ID; checked with hand-made tar streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { unpackFile, safeMemberPath } from './unpack.js';

function tarOf(entries: { path: string; type?: 'File' | 'Link' | 'SymbolicLink'; body?: string; linkpath?: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = new Header({ path: e.path, type: e.type ?? 'File', size: e.type && e.type !== 'File' ? 0 : body.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, linkpath: e.linkpath });
    const block = Buffer.alloc(512);
    h.encode(block, 0);
    blocks.push(block);
    if (body.length && (!e.type || e.type === 'File')) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const diffId = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

test('member paths are normalized; climbing out is refused', () => {
  assert.equal(safeMemberPath('./a/b/'), 'a/b');
  assert.equal(safeMemberPath('/etc/passwd'), 'etc/passwd');
  assert.equal(safeMemberPath('a/../../x'), undefined);
  assert.equal(safeMemberPath('..'), undefined);
});

test('unpack refuses escaping entries and wrong diff IDs, accepts a clean layer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-unpack-'));
  try {
    const cases: [string, Buffer][] = [
      ['dotdot', tarOf([{ path: '../evil', body: 'x' }])],
      ['hardlink out', tarOf([{ path: 'ok', body: 'x' }, { path: 'h', type: 'Link', linkpath: '../../etc/shadow' }])],
    ];
    for (const [name, raw] of cases) {
      const blob = join(dir, `${name}.tar.gz`);
      writeFileSync(blob, gzipSync(raw));
      const dest = join(dir, name.replace(' ', '-'));
      mkdirSync(dest);
      await assert.rejects(unpackFile(blob, dest, diffId(raw), 'test'), /outside the layer/, name);
      assert.ok(!existsSync(join(dir, 'evil')), 'nothing written outside');
    }
    const raw = tarOf([{ path: 'a/b.txt', body: 'hello' }, { path: 'a/.wh.gone' }, { path: 'a/l', type: 'SymbolicLink', linkpath: '/abs/target' }]);
    const blob = join(dir, 'good.tar');
    writeFileSync(blob, raw);
    const bad = join(dir, 'bad-id');
    mkdirSync(bad);
    await assert.rejects(unpackFile(blob, bad, 'sha256:' + '0'.repeat(64), 'test'), /diff ID/);
    const good = join(dir, 'good');
    mkdirSync(good);
    const r = await unpackFile(blob, good, diffId(raw), 'test');
    assert.equal(r.whiteouts, 1);
    assert.deepEqual(readdirSync(join(good, 'a')).sort(), ['b.txt', 'gone', 'l']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('worker pool: bad streams fail with a reason, the worker stays usable', async () => {
  const { UnpackPool } = await import('./unpack-pool.js');
  const { PullError } = await import('../errors/pull-error.js');
  const { Readable } = await import('node:stream');
  const pool = new UnpackPool();
  const dir = mkdtempSync(join(tmpdir(), 'berth-pool-'));
  try {
    const d1 = join(dir, 'garbage');
    mkdirSync(d1);
    const garbage = gzipSync(Buffer.alloc(4096, 7));
    await assert.rejects(pool.unpackStream(Readable.from([garbage]), { dest: d1, diffId: 'sha256:' + '1'.repeat(64), registry: 'r.example' }),
      (e: unknown) => e instanceof PullError && e.reason === 'malformed_layer' && e.message.startsWith('registry r.example: '));
    const d2 = join(dir, 'broken');
    mkdirSync(d2);
    const raw = tarOf([{ path: 'f', body: 'x'.repeat(100_000) }]);
    const failing = new Readable({
      read() {
        this.push(raw.subarray(0, 2048));
        this.destroy(new Error('connection reset'));
      },
    });
    await assert.rejects(pool.unpackStream(failing, { dest: d2, diffId: diffId(raw), registry: 'r' }));
    const d3 = join(dir, 'good');
    mkdirSync(d3);
    const r = await pool.unpackStream(Readable.from([gzipSync(raw)]), { dest: d3, diffId: diffId(raw), registry: 'r' });
    assert.equal(r.entries, 1);
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
