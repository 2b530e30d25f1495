// Bytes and inodes used under a directory, and the mount it lives on, for
// ImageFsInfo. Hardlinked files count once, as du does.
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadNativeModule } from '../../util/native.js';

export interface Usage {
  bytes: number;
  inodes: number;
}

/** Subtrees diskUsage may take from a cache instead of walking them again. */
export interface UsageCache {
  /** Whether the subtree at `path` never changes while it keeps its name. */
  immutable(path: string): boolean;
  /** Usage of such subtrees by path; entries of subtrees no longer there are dropped by each walk. */
  known: Map<string, Usage>;
}

// Entries examined between two yields to the event loop.
const YIELD_EVERY = 512;
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The walk is synchronous, yielding every YIELD_EVERY entries: an lstat of a
 * cached inode takes microseconds, while through the thread pool each one
 * waited behind the pool's other work (spawns, layer unpacking) — with 130
 * containers' holds to walk, ImageFsInfo took 44 ms at the median and over
 * 100 ms at the tail under bench/node-scale.ts.
 */
export async function diskUsage(root: string, cache?: UsageCache): Promise<Usage> {
  const seen = new Set<string>();
  const live = new Set<string>();
  let bytes = 0;
  let inodes = 0;
  let examined = 0;
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (++examined % YIELD_EVERY === 0) await tick();
    if (cache && p !== root && cache.immutable(p)) {
      live.add(p);
      let u = cache.known.get(p);
      if (!u) {
        // A new layer or blob, walked once: by the native module, off the event loop.
        const [walked] = await loadNativeModule().usage([p]);
        u = walked ? { bytes: walked[0], inodes: walked[1] } : { bytes: 0, inodes: 0 };
        cache.known.set(p, u);
      }
      bytes += u.bytes;
      inodes += u.inodes;
      continue;
    }
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue; // removed while walking
    }
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
    }
    inodes++;
    bytes += st.blocks * 512;
    if (st.isDirectory()) {
      try {
        for (const n of readdirSync(p)) stack.push(join(p, n));
      } catch {
        // removed while walking
      }
    }
  }
  if (cache) for (const p of cache.known.keys()) if (!live.has(p)) cache.known.delete(p);
  return { bytes, inodes };
}

/**
 * What ImageFsInfo walks in the image store: an unpacked layer
 * (`layers/<hex>`) and a blob (`blobs/sha256/<hex>`) are named by their
 * content and never change once in place, so each is walked once; records,
 * holds, ingest and entries being made or removed (`.tmp-*`) every time.
 * kubelet asks every 10 s: walking every file of every layer each time cost
 * one lstat per file through the thread pool, ~100 ms per call with one
 * busybox image here and more with every image.
 */
export function imageStoreCache(root: string): UsageCache {
  const dirs = [join(root, 'layers'), join(root, 'blobs', 'sha256')];
  return {
    immutable: (p) => !basename(p).startsWith('.') && dirs.includes(dirname(p)),
    known: new Map(),
  };
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mount point holding `path`: the longest mount point that prefixes it. */
export function mountPointOf(path: string): string {
  let best = '/';
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const m = unescapeMount(mp);
    if ((path === m || path.startsWith(m.endsWith('/') ? m : m + '/')) && m.length > best.length) best = m;
  }
  return best;
}
