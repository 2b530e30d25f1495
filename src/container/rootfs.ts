import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { mount } from '../util/mount.js';

/**
 * Mounts the container's root filesystem: the image layers read-only
 * (overlay wants the topmost lower first) under a private writable upper.
 * The target is new (a fresh container ID), so nothing is mounted there yet.
 */
export async function mountRootfs(layerDirs: readonly string[], upper: string, work: string, target: string): Promise<void> {
  // The mount point is on the state tmpfs: microseconds, made in place. The
  // upper and work directories are on the disk (a quarter of a millisecond
  // per ext4 directory on this kind of VM), so the thread pool makes them
  // while the event loop launches conmon and builds the spec.
  mkdirSync(target, { recursive: true });
  await Promise.all([mkdir(upper, { recursive: true }), mkdir(work, { recursive: true })]);
  const lower = [...layerDirs].reverse().join(':');
  await mount('overlay', target, 'overlay', 0, `lowerdir=${lower},upperdir=${upper},workdir=${work}`);
}
