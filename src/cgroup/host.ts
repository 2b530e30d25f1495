// The host's cgroup layout as berthd places pods and containers in it:
// which version the controllers are on, where each hierarchy is mounted,
// and the path of a container's cgroup under its pod's. Shared by the
// sandbox and container services, which make and remove cgroups, and by the
// stats readers, which read them.
import { existsSync } from 'node:fs';
import { readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

export type CgroupVersion = 'v1' | 'v2';

/** cgroup v2 when the root is a unified hierarchy (cgroup.controllers at its top), else v1. */
export function detectCgroupVersion(base = '/sys/fs/cgroup'): CgroupVersion {
  return existsSync(join(base, 'cgroup.controllers')) ? 'v2' : 'v1';
}

/** A container's cgroup, under its pod's; the stats readers look there too. */
export function containerCgroupPath(podCgroup: string, containerId: string): string {
  return `${podCgroup}/${containerId}`;
}

/** Cgroup controller roots on this host (v1 hierarchies, or the v2 root). */
export async function cgroupRoots(base = '/sys/fs/cgroup'): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8');
  return text.split('\n').map((l) => l.split(' ')).filter((f) => (f[2] === 'cgroup' || f[2] === 'cgroup2') && f[1]?.startsWith(base)).map((f) => f[1]!);
}

/** Removes an empty cgroup directory in every hierarchy; a busy one is left. */
export async function removeCgroup(path: string): Promise<void> {
  for (const root of await cgroupRoots()) {
    await rmdir(join(root, path)).catch(() => undefined);
  }
}

let swap: boolean | undefined;
/** Whether the v1 memory controller accounts swap (memsw files exist), read once. */
export function swapAccounted(): boolean {
  swap ??= existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
  return swap;
}
