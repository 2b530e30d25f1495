// ESLint rule: no folder under src/ imports (directly or through other
// folders) from a folder that imports it back. Each folder is a node, its
// imports of other folders are edges (type-only imports count: a cycle of
// types still couples the folders). ESLint sees one file at a time, so the
// graph of the whole tree is built once per run from the files on disk and
// each file's imports are checked against it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g;

function sourceFiles(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'generated' || name === 'node_modules') continue;
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const graphs = new Map();

/** Folder (relative to src) -> set of folders it imports from. */
function graphOf(srcRoot) {
  let g = graphs.get(srcRoot);
  if (g) return g;
  g = new Map();
  for (const file of sourceFiles(srcRoot)) {
    const from = relative(srcRoot, dirname(file)) || '.';
    const edges = g.get(from) ?? new Set();
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const to = relative(srcRoot, dirname(resolve(dirname(file), m[1]))) || '.';
      if (to !== from && !to.startsWith('..')) edges.add(to);
    }
    g.set(from, edges);
  }
  graphs.set(srcRoot, g);
  return g;
}

/** A path of folders from `start` back to `target`, if there is one. */
function pathBack(g, start, target) {
  const seen = new Set([start]);
  const queue = [[start]];
  while (queue.length) {
    const path = queue.shift();
    const last = path[path.length - 1];
    if (last === target) return path;
    for (const next of g.get(last) ?? []) {
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push([...path, next]);
    }
  }
  return undefined;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'forbid import cycles between folders under src/' },
    schema: [],
    messages: { cycle: 'folder "{{from}}" imports "{{to}}", which imports it back: {{path}}' },
  },
  create(context) {
    const file = context.filename;
    const marker = `${sep}src${sep}`;
    const at = file.lastIndexOf(marker);
    if (at < 0 || file.endsWith('.test.ts')) return {};
    const srcRoot = file.slice(0, at + marker.length - 1);
    const from = relative(srcRoot, dirname(file)) || '.';
    if (from.startsWith('cri' + sep + 'generated')) return {};
    const g = graphOf(srcRoot);
    const check = (node) => {
      const spec = node.source?.value;
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const to = relative(srcRoot, dirname(resolve(dirname(file), spec))) || '.';
      if (to === from || to.startsWith('..')) return;
      const back = pathBack(g, to, from);
      if (back) context.report({ node, messageId: 'cycle', data: { from, to, path: [from, ...back].join(' -> ') } });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check };
  },
};
