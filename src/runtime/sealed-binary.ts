// An OCI runtime run from a sealed in-memory copy of its binary (what runc's
// memfd-bind tool sets up for a host). runc defends against a container
// overwriting the host's runc (CVE-2019-5736) by cloning itself before every
// container process unless its own executable is a sealed memfd; runc 1.1
// does it with a read-only bind mount of itself and a second exec of its
// 8 MiB binary, per `create` and per `exec`: about a tenth of the CPU of a
// create + exec + delete here, and mounts that contend with the daemon's own
// during a burst of pod starts. One copy serves every container; it costs
// the binary's size in memory (shmem, charged to berthd's cgroup).
import { closeSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { loadNativeModule } from '../util/native.js';

/** How often the binary on disk is looked at for a replacement (a package upgrade). */
const RECHECK_MS = 1000;
/** How long a replaced copy stays open for a process about to exec it (conmon, handed the path). */
const RETIRE_MS = 60_000;

export class SealedBinary {
  private fd?: number;
  /** The identity of the file the copy was made from (device, inode, size, mtime). */
  private copied = '';
  private checkedAt = -Infinity;

  constructor(
    /** The binary on disk. */
    readonly original: string,
    private readonly log?: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The path to exec: the sealed copy, made again when the binary on disk
   * changed; the original itself when no copy can be made.
   */
  path(): string {
    if (this.now() - this.checkedAt >= RECHECK_MS) this.refresh();
    return this.fd === undefined ? this.original : `/proc/${process.pid}/fd/${this.fd}`;
  }

  private refresh(): void {
    this.checkedAt = this.now();
    let identity: string;
    try {
      const st = statSync(this.original);
      identity = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      // Gone or unreadable for now: keep the copy there is (or the path, which fails as it would).
      return;
    }
    if (identity === this.copied) return;
    let fd: number;
    try {
      fd = loadNativeModule().sealedCopy(this.original);
    } catch (err) {
      this.log?.warn({ binary: this.original, err: (err as Error).message }, 'no sealed copy of the OCI runtime: running it from disk');
      return;
    }
    const retired = this.fd;
    this.fd = fd;
    this.copied = identity;
    if (retired !== undefined) setTimeout(() => closeSync(retired), RETIRE_MS).unref();
  }

  /** Closes the copy (daemon shutdown). */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.copied = '';
    this.checkedAt = -Infinity;
  }
}
