import { mkdirSync } from 'node:fs';
import { mount } from '../util/mount.js';

/**
 * Mounts the container's root filesystem: the image layers read-only
 * (overlay wants the topmost lower first) under a private writable upper.
 * The target is new (a fresh container ID), so nothing is mounted there yet.
 */
export async function mountRootfs(layerDirs: readonly string[], upper: string, work: string, target: string): Promise<void> {
  // Three mkdirs take microseconds in place; queued on the thread pool they
  // waited milliseconds behind other work on the container start path.
  for (const d of [upper, work, target]) mkdirSync(d, { recursive: true });
  const lower = [...layerDirs].reverse().join(':');
  await mount('overlay', target, 'overlay', 0, `lowerdir=${lower},upperdir=${upper},workdir=${work}`);
}
