import { mkdir } from 'node:fs/promises';
import { run } from '../util/run.js';

/**
 * Mounts the container's root filesystem: the image layers read-only
 * (overlay wants the topmost lower first) under a private writable upper.
 * The target is new (a fresh container ID), so nothing is mounted there yet.
 */
export async function mountRootfs(layerDirs: readonly string[], upper: string, work: string, target: string): Promise<void> {
  await Promise.all([upper, work, target].map((d) => mkdir(d, { recursive: true })));
  const lower = [...layerDirs].reverse().join(':');
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, target]);
}
