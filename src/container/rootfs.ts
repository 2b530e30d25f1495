import { mkdirSync } from 'node:fs';
import { mount } from '../util/mount.js';

/**
 * Mounts the container's root filesystem: the image layers read-only
 * (overlay wants the topmost lower first) under a private writable upper.
 * `upper` and `work` exist (see layer-dirs.ts); the target is new (a fresh
 * container ID), so nothing is mounted there yet.
 */
export async function mountRootfs(layerDirs: readonly string[], upper: string, work: string, target: string): Promise<void> {
  // On the state tmpfs: microseconds, made in place.
  mkdirSync(target, { recursive: true });
  const lower = [...layerDirs].reverse().join(':');
  await mount('overlay', target, 'overlay', 0, `lowerdir=${lower},upperdir=${upper},workdir=${work}`);
}
