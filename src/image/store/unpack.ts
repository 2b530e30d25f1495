// Unpacks one layer tarball into a directory overlayfs can stack.
//
// Design (Node has no mknod/setxattr): the layer is decompressed once, in
// this process (zlib; zstd through the `zstd` tool), and the tar bytes go
// two ways. GNU tar, reading them on stdin, does the extraction: it restores
// numeric ownership, modes, hardlinks, symlinks, xattrs and mtimes, strips
// leading `/`, refuses `..` members and defers symlinks so a link cannot
// redirect later members out of the tree. Our own pass (node-tar's parser)
// hashes the same bytes to verify the diff ID, refuses entries that climb out
// of the layer, and collects OCI whiteouts. Afterwards, only for layers that
// have any, whiteouts become what overlayfs expects: `.wh.NAME` → a 0/0
// character device NAME (one `mknod` batch), `.wh..wh..opq` → xattr
// trusted.overlay.opaque=y on its directory (one `setfattr` call): one extra
// process per layer that needs it, none otherwise. The source may be a
// download in progress: pulls unpack while the blob is being stored.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, statfs, unlink, utimes } from 'node:fs/promises';
import { posix, join } from 'node:path';
import { Duplex, PassThrough, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Header, Parser, type ReadEntry } from 'tar';
import { PullError } from '../errors/pull-error.js';

export interface UnpackResult {
  /** Sum of file sizes in the layer. */
  size: number;
  entries: number;
  whiteouts: number;
  opaque: number;
}

const OPAQUE = '.wh..wh..opq';
const WH = '.wh.';
const TAR_FLAGS = ['--numeric-owner', '--same-owner', '--same-permissions', '--xattrs', '--xattrs-include=*', '--no-overwrite-dir'];

/** Normalizes a member name to a relative path, or undefined when it climbs out. */
export function safeMemberPath(name: string): string | undefined {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return undefined;
  return parts.join('/');
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

/**
 * Creates overlay whiteouts (0/0 character devices) for `paths` with one
 * GNU tar process reading a tar of device entries we generate: one process
 * however many whiteouts, where a `mknod` per path costs a fork each.
 */
async function mknodWhiteouts(dest: string, paths: string[]): Promise<void> {
  if (!paths.length) return;
  const blocks: Buffer[] = [];
  for (const path of paths) {
    const b = Buffer.alloc(512);
    new Header({ path, type: 'CharacterDevice', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: new Date(0), devmaj: 0, devmin: 0 }).encode(b, 0);
    blocks.push(b);
  }
  blocks.push(Buffer.alloc(1024));
  await new Promise<void>((resolve, reject) => {
    const p = spawn('tar', ['-x', '-f', '-', '-C', dest, '--numeric-owner', '--same-owner', '--no-overwrite-dir'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    p.stdin!.on('error', () => undefined);
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`creating whiteouts: tar exited ${code}: ${err.trim().slice(0, 300)}`))));
    p.stdin!.end(Buffer.concat(blocks));
  });
}

/** Less than 1 MiB or no inode left where `dir` lives. */
async function nearlyFull(dir: string): Promise<boolean> {
  try {
    const st = await statfs(dir);
    return st.bavail * st.bsize < 1 << 20 || st.ffree === 0;
  } catch {
    return false;
  }
}

/** Resolves with the first chunk, which stays in the stream. */
function peek(source: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (b: Buffer): void => {
      source.off('readable', onReadable);
      source.off('end', onEnd);
      source.off('error', reject);
      resolve(b);
    };
    const onReadable = (): void => {
      const c = source.read() as Buffer | null;
      if (c === null) return;
      source.unshift(c);
      done(c);
    };
    const onEnd = (): void => done(Buffer.alloc(0));
    source.on('readable', onReadable);
    source.once('end', onEnd);
    source.once('error', reject);
  });
}

function decompressor(head: Buffer): { stage: Duplex; proc?: ChildProcess } {
  if (head[0] === 0x1f && head[1] === 0x8b) return { stage: createGunzip({ chunkSize: 256 * 1024 }) };
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) {
    const proc = spawn('zstd', ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
    return { stage: Duplex.from({ writable: proc.stdin!, readable: proc.stdout! } as unknown as Parameters<typeof Duplex.from>[0]), proc };
  }
  return { stage: new PassThrough() };
}

/**
 * Unpacks the layer flowing from `source` into the empty directory `dest`.
 * Throws PullError on a bad layer; the caller removes `dest` on failure.
 */
export async function unpackStream(source: Readable, dest: string, diffId: string, registry: string): Promise<UnpackResult> {
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
    else {
      const base = posix.basename(p);
      if (base === OPAQUE) opaque.push(posix.dirname(p));
      else if (base.startsWith(WH)) whiteouts.push(p);
    }
    size += e.size ?? 0;
    e.resume();
  });
  let parseError: Error | undefined;
  parser.on('error', (err: Error) => (parseError ??= err));

  const tar = spawn('tar', ['-x', '-f', '-', '-C', dest, ...TAR_FLAGS], { stdio: ['pipe', 'ignore', 'pipe'] });
  let tarErr = '';
  tar.stderr!.on('data', (d: Buffer) => (tarErr += d.toString()));
  tar.stdin!.on('error', () => undefined); // EPIPE when tar stops early; its exit status tells why
  const tarExit = new Promise<number | null>((resolve) => tar.once('close', (code) => resolve(code)));

  const hash = createHash('sha256');
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      parser.write(chunk);
      if (tar.stdin!.write(chunk)) cb();
      else tar.stdin!.once('drain', () => cb());
    },
    final(cb) {
      parser.end();
      tar.stdin!.end();
      cb();
    },
  });

  let dec: ReturnType<typeof decompressor> | undefined;
  try {
    dec = decompressor(await peek(source));
    await pipeline(source, dec.stage, sink);
  } catch (err) {
    tar.kill();
    dec?.proc?.kill();
    await tarExit;
    if (err instanceof PullError || (err as Error).name === 'AbortError') throw err;
    if (/No space left on device/.test(tarErr) || (await nearlyFull(dest))) throw new PullError('disk_full', registry, `layer ${diffId}: no space left unpacking it`, { cause: err });
    throw new PullError('malformed_layer', registry, `layer ${diffId} is not a valid (compressed) tar stream: ${(err as Error).message}`, { cause: err });
  }
  const code = await tarExit;
  if (bad) throw new PullError('malformed_layer', registry, `layer ${diffId}: ${bad}`);
  if (parseError) throw new PullError('malformed_layer', registry, `layer ${diffId} is not a valid tar stream: ${parseError.message}`);
  if (code !== 0) {
    // GNU tar reports a full disk as a short write; ask the filesystem.
    const reason = /No space left on device|Disk quota exceeded/.test(tarErr) || (await nearlyFull(dest)) ? 'disk_full' : 'malformed_layer';
    const why = reason === 'disk_full' ? 'no space left on the image store' : 'extraction failed';
    throw new PullError(reason, registry, `layer ${diffId}: ${why}: ${tarErr.trim().slice(0, 500)}`);
  }
  const got = 'sha256:' + hash.digest('hex');
  if (got !== diffId) throw new PullError('digest_mismatch', registry, `layer content has diff ID ${got}, image config says ${diffId}`);

  if (whiteouts.length) {
    const targets: string[] = [];
    for (const w of whiteouts) {
      await unlink(join(dest, w));
      const t = posix.join(posix.dirname(w), posix.basename(w).slice(WH.length));
      // A layer both whiting out and adding a path keeps the added one (the
      // whiteout is meant for lower layers).
      if (!(await lstat(join(dest, t)).catch(() => undefined))) targets.push(t);
    }
    await mknodWhiteouts(dest, targets);
  }
  if (opaque.length) {
    for (const d of opaque) await unlink(join(dest, d, OPAQUE));
    await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', ...opaque.map((d) => join(dest, d))]);
  }
  // Removing marker files touched their directories; put the layer's times back.
  for (const d of new Set([...whiteouts.map((w) => posix.dirname(w)), ...opaque])) {
    const t = dirTimes.get(d === '.' ? '' : d);
    if (t) await utimes(join(dest, d), t, t);
  }
  return { size, entries, whiteouts: whiteouts.length, opaque: opaque.length };
}

/** Unpacks a stored blob file. */
export function unpackFile(blob: string, dest: string, diffId: string, registry: string): Promise<UnpackResult> {
  return unpackStream(createReadStream(blob, { highWaterMark: 1 << 20 }), dest, diffId, registry);
}
