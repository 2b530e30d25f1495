import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigDir } from './loader.js';

const list = (name: string): string => JSON.stringify({ cniVersion: '1.0.0', name, plugins: [{ type: 'bridge' }] });

test('the lexically first valid file wins; edits, additions and removals are seen without a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cniconf-'));
  try {
    const cd = new ConfigDir(dir);
    assert.equal(cd.current().empty, true);
    assert.equal(cd.current().conf, undefined);
    writeFileSync(join(dir, '20-b.conflist'), list('b'));
    writeFileSync(join(dir, '10-a.conflist'), '{ broken');
    writeFileSync(join(dir, '05-ignored.txt'), list('txt'));
    let st = cd.current();
    assert.equal(st.conf?.list.name, 'b');
    assert.match(st.problems[0]!, /^10-a\.conflist: not valid JSON/);
    // Atomic replace (rename over), as config management tools do.
    writeFileSync(join(dir, '.tmp'), list('a'));
    renameSync(join(dir, '.tmp'), join(dir, '10-a.conflist'));
    st = cd.current();
    assert.equal(st.conf?.list.name, 'a');
    assert.deepEqual(st.problems, []);
    rmSync(join(dir, '10-a.conflist'));
    rmSync(join(dir, '20-b.conflist'));
    st = cd.current();
    assert.equal(st.conf, undefined);
    assert.equal(st.empty, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing directory is reported, not thrown', () => {
  const st = new ConfigDir('/nonexistent/berth-cni').current();
  assert.equal(st.conf, undefined);
  assert.match(st.problems[0]!, /does not exist/);
});
