// The lint rule that keeps folders under src/ free of import cycles
// (eslint-rules/no-folder-cycles.js), run by ESLint on a small tree of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { REPO_ROOT } from '../helpers/daemon.js';

async function lint(files: Record<string, string>): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-lint-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, 'src', path, '..'), { recursive: true });
      writeFileSync(join(dir, 'src', path), text);
    }
    const rule = (await import(join(REPO_ROOT, 'eslint-rules/no-folder-cycles.js'))).default;
    const eslint = new ESLint({
      cwd: dir,
      overrideConfigFile: true,
      overrideConfig: [{
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { berth: { rules: { 'no-folder-cycles': rule } } },
        rules: { 'berth/no-folder-cycles': 'error' },
      }],
    });
    const results = await eslint.lintFiles(['src/**/*.ts']);
    return results.flatMap((r) => r.messages.map((m) => m.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('no-folder-cycles: a cycle between folders is reported, also through a third folder; layered imports are not', async () => {
  assert.deepEqual(await lint({
    'a/x.ts': "import { y } from '../b/y.js';\nexport const x = y;\n",
    'b/y.ts': "export const y = 1;\n",
    'b/sub/z.ts': "import { y } from '../y.js';\nexport const z = y;\n",
  }), []);
  const direct = await lint({
    'container/x.ts': "import type { S } from '../sandbox/s.js';\nexport type X = S;\n",
    'sandbox/s.ts': "import { f } from '../container/f.js';\nexport type S = typeof f;\n",
    'container/f.ts': 'export const f = 1;\n',
  });
  assert.equal(direct.length, 2, direct.join('\n'));
  assert.ok(direct.some((m) => m.includes('container -> sandbox -> container')));
  const around = await lint({
    'a/x.ts': "import { y } from '../b/y.js';\nexport const x = y;\n",
    'b/y.ts': "import { z } from '../c/z.js';\nexport const y = z;\n",
    'c/z.ts': "import { w } from '../a/w.js';\nexport const z = w;\n",
    'a/w.ts': 'export const w = 1;\n',
  });
  assert.equal(around.length, 3, around.join('\n'));
});
