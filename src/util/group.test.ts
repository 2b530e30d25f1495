import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { groupId } from './group.js';

test('groups by name from the group file, or by number', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-group-'));
  try {
    const file = join(dir, 'group');
    writeFileSync(file, 'root:x:0:\nberth:x:998:alice,bob\nbroken\n');
    assert.equal(groupId('berth', file), 998);
    assert.equal(groupId('root', file), 0);
    assert.equal(groupId('1234', file), 1234);
    assert.throws(() => groupId('nobody-here', file), /group "nobody-here" does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
