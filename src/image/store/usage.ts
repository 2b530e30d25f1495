// Bytes and inodes used under a directory, and the mount it lives on, for
// ImageFsInfo. Hardlinked files count once, as du does.
import { lstat, readdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

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

export async function diskUsage(root: string, cache?: UsageCache): Promise<Usage> {
  const seen = new Set<string>();
  const live = new Set<string>();
  let bytes = 0;
  let inodes = 0;
  const walk = async (p: string): Promise<void> => {
    if (cache && p !== root && cache.immutable(p)) {
      live.add(p);
      let u = cache.known.get(p);
      if (!u) {
        u = await diskUsage(p);
        cache.known.set(p, u);
      }
      bytes += u.bytes;
      inodes += u.inodes;
      return;
    }
    let st;
    try {
      st = await lstat(p, { bigint: false });
    } catch {
      return; // removed while walking
    }
    const key = `${st.dev}:${st.ino}`;
    if (st.nlink > 1) {
      if (seen.has(key)) return;
      seen.add(key);
    }
    inodes++;
    bytes += st.blocks * 512;
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = await readdir(p);
      } catch {
        return;
      }
      for (const n of names) await walk(join(p, n));
    }
  };
  await walk(root);
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
