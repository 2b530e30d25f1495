// The volatile state directory (daemon.state): bundles with runc's and
// conmon's pid files, exit files, the runtime's --root, pinned namespaces,
// sockets. runc opens its pid file with O_SYNC, so on a disk filesystem every
// container start and exec waits for a journal commit (about 4 ms on ext4
// here). Hosts run by systemd have /run on a tmpfs; hosts that do not get one
// mounted by berthd.
import { mkdirSync, readdirSync, statfsSync } from 'node:fs';
import { mount, MS } from '../util/mount.js';

const TMPFS_MAGIC = 0x01021994;

export type StateDirKind = 'tmpfs' | 'mounted-tmpfs' | 'disk' | 'disk-not-empty' | 'mount-failed';

export function isTmpfs(dir: string): boolean {
  return statfsSync(dir).type === TMPFS_MAGIC;
}

/**
 * Creates the state directory and, when asked, mounts a tmpfs on it. Only an
 * empty directory gets one: a mount over a populated directory would hide the
 * bundles and sockets of containers a previous berthd left running. The mount
 * outlives berthd on purpose (restarts keep their containers); a reboot clears
 * it, as it clears /run.
 */
export async function prepareStateDir(dir: string, wantTmpfs: boolean): Promise<{ kind: StateDirKind; error?: string }> {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  if (isTmpfs(dir)) return { kind: 'tmpfs' };
  if (!wantTmpfs) return { kind: 'disk' };
  if (readdirSync(dir).length > 0) return { kind: 'disk-not-empty' };
  try {
    await mount('tmpfs', dir, 'tmpfs', MS.NOSUID | MS.NODEV, 'mode=0711');
  } catch (err) {
    // Without CAP_SYS_ADMIN (a rootless or confined berthd) the disk serves, only slower.
    return { kind: 'mount-failed', error: (err as Error).message };
  }
  return { kind: 'mounted-tmpfs' };
}
