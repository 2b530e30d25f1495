// Unpacks one layer tarball into a directory overlayfs can stack.
//
// Design (Node has no mknod/setxattr): GNU tar does the extraction — it
// restores numeric ownership, modes, hardlinks, symlinks, xattrs and mtimes,
// strips leading `/`, refuses `..` members and defers symlinks so a link
// cannot redirect later members out of the tree. In parallel, our own pass
// over the same bytes (node-tar's parser on the decompressed stream) hashes
// them to verify the diff ID, refuses entries that climb out of the layer,
// and collects OCI whiteouts. Afterwards, only for layers that have any, the
// whiteouts become what overlayfs expects: `.wh.NAME` → a 0/0 character
// device NAME (one `mknod` batch), `.wh..wh..opq` → xattr
// trusted.overlay.opaque=y on its directory (one `setfattr` call). Both tools
// cost one process each per layer that needs them, none otherwise.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, unlink, utimes } from 'node:fs/promises';
import { posix, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { PullError } from '../pull-error.js';

export interface UnpackResult {
  /** Sum of file sizes in the layer. */
  size: number;
  entries: number;
  whiteouts: number;
  opaque: number;
}

const OPAQUE = '.wh..wh..opq';
const WH = '.wh.';

/** Normalizes a member name to a relative path, or undefined when it climbs out. */
export function safeMemberPath(name: string): string | undefined {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return undefined;
  return parts.join('/');
}

async function compression(blob: string): Promise<'gzip' | 'zstd' | 'none'> {
  const fh = await open(blob, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err.trim().slice(0, 500)}`))));
  });
}

/** Our pass over the layer: diff ID, escape checks, whiteouts. */
async function scan(blob: string, kind: 'gzip' | 'zstd' | 'none', registry: string, signal: AbortSignal) {
  const hash = createHash('sha256');
  const whiteouts: string[] = [];
  const opaque: string[] = [];
  const dirTimes = new Map<string, Date>();
  let size = 0;
  let entries = 0;
  let bad: string | undefined;
  const parser = new Parser();
  parser.on('entry', (e: ReadEntry) => {
    entries++;
    const p = safeMemberPath(e.path);
    if (p === undefined) bad ??= `entry "${e.path}" points outside the layer`;
    else if (e.type === 'Link' && (!e.linkpath || safeMemberPath(e.linkpath) === undefined)) bad ??= `hardlink "${e.path}" targets "${e.linkpath}" outside the layer`;
    else if (e.type === 'Directory' && e.mtime) dirTimes.set(p, e.mtime);
    else if (p !== undefined) {
      const base = posix.basename(p);
      if (base === OPAQUE) opaque.push(posix.dirname(p));
      else if (base.startsWith(WH)) whiteouts.push(p);
    }
    size += e.size ?? 0;
    e.resume();
  });
  const hasher = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  let source: Readable;
  let zstd: ReturnType<typeof spawn> | undefined;
  if (kind === 'zstd') {
    zstd = spawn('zstd', ['-dc', blob], { stdio: ['ignore', 'pipe', 'ignore'] });
    source = zstd.stdout!;
  } else {
    source = createReadStream(blob);
  }
  try {
    const stages: NodeJS.ReadWriteStream[] = kind === 'gzip' ? [createGunzip(), hasher] : [hasher];
    await pipeline([source, ...stages, parser], { signal });
  } catch (err) {
    zstd?.kill();
    if ((err as Error).name === 'AbortError') throw err;
    throw new PullError('malformed_layer', registry, `layer ${posix.basename(blob)} is not a valid tar stream: ${(err as Error).message}`);
  }
  return { diffId: 'sha256:' + hash.digest('hex'), whiteouts, opaque, dirTimes, size, entries, bad };
}

/**
 * Unpacks `blob` into the empty directory `dest`. Throws PullError on a bad
 * layer; the caller removes `dest` on failure.
 */
export async function unpackLayer(blob: string, dest: string, diffId: string, registry: string): Promise<UnpackResult> {
  const kind = await compression(blob);
  const ac = new AbortController();
  const tarArgs = ['-x', '-f', blob, '-C', dest, '--numeric-owner', '--same-owner', '--same-permissions', '--xattrs', '--xattrs-include=*', '--no-overwrite-dir'];
  if (kind === 'zstd') tarArgs.push('--zstd');
  const extract = run('tar', tarArgs);
  // Awaited below, after the scan; marked handled so an early failure is not unhandled.
  extract.catch(() => undefined);
  let s: Awaited<ReturnType<typeof scan>>;
  try {
    s = await scan(blob, kind, registry, ac.signal);
  } catch (err) {
    await extract.catch(() => undefined);
    throw err;
  }
  try {
    await extract;
  } catch (err) {
    if (s.bad) throw new PullError('malformed_layer', registry, `layer ${diffId}: ${s.bad}`);
    throw new PullError('malformed_layer', registry, `layer ${diffId}: extraction failed: ${(err as Error).message}`);
  }
  if (s.bad) throw new PullError('malformed_layer', registry, `layer ${diffId}: ${s.bad}`);
  if (s.diffId !== diffId) throw new PullError('digest_mismatch', registry, `layer content has diff ID ${s.diffId}, image config says ${diffId}`);

  if (s.whiteouts.length) {
    const targets: string[] = [];
    for (const w of s.whiteouts) {
      await unlink(join(dest, w));
      targets.push(join(dest, posix.dirname(w), posix.basename(w).slice(WH.length)));
    }
    // `mknod` fails on an existing name: a layer both whiting out and
    // adding a path keeps the added one (the whiteout is for lower layers).
    await run('sh', ['-c', 'for p; do [ -e "$p" ] || [ -L "$p" ] || mknod "$p" c 0 0 || exit 1; done', 'sh', ...targets]);
  }
  if (s.opaque.length) {
    for (const d of s.opaque) await unlink(join(dest, d, OPAQUE));
    await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', ...s.opaque.map((d) => join(dest, d))]);
  }
  // Removing marker files touched their directories; put the layer's times back.
  const touched = new Set([...s.whiteouts.map((w) => posix.dirname(w)), ...s.opaque]);
  for (const d of touched) {
    const t = s.dirTimes.get(d === '.' ? '' : d);
    if (t) await utimes(join(dest, d), t, t);
  }
  return { size: s.size, entries: s.entries, whiteouts: s.whiteouts.length, opaque: s.opaque.length };
}
