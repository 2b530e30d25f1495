// Reads of kernel pseudo-files (cgroup files, /proc). Their content is
// generated in memory on read, so a thread-pool round trip per file
// (fs/promises) costs far more than the read: measured here, 5 cgroup files
// of one container take ~65 µs synchronously and ~560 µs of CPU through
// fs/promises. One file is read synchronously; a node's worth (a list call
// reads over a thousand, 40 ms under load) goes to the native module in a few
// thread-pool jobs, so the event loop serves other calls meanwhile.
import { openSync, readSync, closeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadNativeModule } from '../util/native.js';

// Below this many files a batch is one job: splitting costs more than it saves.
const MIN_JOB = 64;
// libuv's pool has 4 threads by default, shared with every file operation,
// mount and spawn: two jobs at most (this VM has two cores anyway).
const MAX_JOBS = Math.max(1, Math.min(2, availableParallelism()));

/**
 * Each file's text, undefined where it cannot be read; read off the event
 * loop. An item is a path or a descriptor kept open (read from offset 0),
 * which must stay open until the promise settles.
 */
export async function readMany(items: (string | number)[]): Promise<(string | undefined)[]> {
  if (items.length === 0) return [];
  const jobs = Math.max(1, Math.min(MAX_JOBS, Math.floor(items.length / MIN_JOB)));
  const size = Math.ceil(items.length / jobs);
  const { readFiles } = loadNativeModule();
  const parts: Promise<(string | null)[]>[] = [];
  for (let i = 0; i < items.length; i += size) parts.push(readFiles(items.slice(i, i + size)));
  return (await Promise.all(parts)).flat().map((t) => t ?? undefined);
}

const buf = Buffer.allocUnsafe(256 * 1024);

/** The file's text, or undefined when it cannot be read (a cgroup that went away). */
export function readSmall(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    return preadSmall(fd);
  } finally {
    closeSync(fd);
  }
}

/** The text of an open file from offset 0 (a kept descriptor of a pseudo-file reads its current content), or undefined on error. */
export function preadSmall(fd: number): string | undefined {
  try {
    let n = 0;
    for (;;) {
      const k = readSync(fd, buf, n, buf.length - n, n);
      if (k <= 0) break;
      n += k;
      if (n === buf.length) break;
    }
    return buf.toString('latin1', 0, n);
  } catch {
    return undefined;
  }
}

/**
 * Descriptors kept open and read in batches off the event loop. One is
 * closed only once no batch that may hold it is running: a number closed and
 * reused meanwhile would read another file.
 */
export class BatchReads {
  private reading = 0;
  private closing: number[] = [];

  /** readMany, with the descriptors among `items` kept open until it settles. */
  async read(items: (string | number)[]): Promise<(string | undefined)[]> {
    this.reading++;
    try {
      return await readMany(items);
    } finally {
      if (--this.reading === 0 && this.closing.length) this.close(this.closing.splice(0));
    }
  }

  /** Closes `fds` now, or once the batches running end. */
  close(fds: number[]): void {
    if (this.reading > 0) {
      this.closing.push(...fds);
      return;
    }
    for (const fd of fds) closeSync(fd);
  }
}
