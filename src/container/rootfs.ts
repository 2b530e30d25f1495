import { mkdir } from 'node:fs/promises';
import { run } from '../util/run.js';
import { mountPoints } from '../sandbox/host.js';

/**
 * Mounts the container's root filesystem: the image layers read-only
 * (overlay wants the topmost lower first) under a private writable upper.
 */
export async function mountRootfs(layerDirs: readonly string[], upper: string, work: string, target: string): Promise<void> {
  await Promise.all([upper, work, target].map((d) => mkdir(d, { recursive: true })));
  if ((await mountPoints()).has(target)) return;
  const lower = [...layerDirs].reverse().join(':');
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, target]);
}
