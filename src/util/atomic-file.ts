import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { open, rename, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file so that a crash at any instant leaves either the old or the
 * new content, never a torn one: temp file in the same directory, fsync,
 * rename over the target, fsync of the directory so the rename itself is durable.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncPath(dirname(path));
}

/** The temporary file a replacement of `path` is written to (swept by sweepTempFiles). */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Replaces a file's content atomically (temp file, rename) and returns as soon
 * as the new content is in place: a daemon killed at any instant after that
 * finds it whole. The flush to disk (file, then directory) follows within
 * FLUSH_DELAY_MS, once for a burst of replacements of the same file (a
 * container's created and started records land milliseconds apart). For
 * records whose loss in a power failure matters little because what they
 * describe (processes, mounts) is gone after one too. A failed flush is
 * handed to `onFlushError`.
 *
 * The write and the rename are made in place: without an fsync they take
 * tens of microseconds, while each hop through the thread pool cost a
 * fraction of a millisecond on the container start path.
 */
export function replaceFile(path: string, data: string | Uint8Array, onFlushError: (err: Error) => void, mode = 0o600): void {
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, data, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, data, { mode });
  }
  renameSync(tmp, path);
  scheduleFlush(path, onFlushError);
}

/**
 * replaceFile through the thread pool: for a write that runs beside slower
 * work (an image hold beside a container's creation), where keeping the
 * event loop free matters more than the write's own latency.
 */
export async function replaceFileAsync(path: string, data: string | Uint8Array, onFlushError: (err: Error) => void, mode = 0o600): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await writeFile(tmp, data, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, data, { mode });
  }
  await rename(tmp, path);
  scheduleFlush(path, onFlushError);
}

function scheduleFlush(path: string, onFlushError: (err: Error) => void): void {
  if (flushing.has(path)) return;
  flushing.add(path);
  setTimeout(() => {
    flushing.delete(path);
    void syncPath(path).then(() => syncPath(dirname(path))).catch(onFlushError);
  }, FLUSH_DELAY_MS).unref();
}

const FLUSH_DELAY_MS = 50;
const flushing = new Set<string>();

/** fsync of a file or directory; one removed meanwhile needs none. */
async function syncPath(path: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Removes the temporary files of writeFileAtomic/replaceFile calls a crash cut short in `dir` (the files they replaced are intact). */
export async function sweepTempFiles(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith('.') && n.endsWith('.tmp')).map((n) => rm(join(dir, n), { force: true })));
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value));
}

/** Reads JSON, or undefined when the file does not exist. */
export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
