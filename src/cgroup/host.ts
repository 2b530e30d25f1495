// The host's cgroup layout as berthd places pods and containers in it:
// which version the controllers are on, where each hierarchy is mounted,
// and the path of a container's cgroup under its pod's. Shared by the
// sandbox and container services, which make and remove cgroups, and by the
// stats readers, which read them.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, rmdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
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
  return rootsIn(await readFile('/proc/self/mounts', 'utf8'), base);
}

function rootsIn(mounts: string, base: string): string[] {
  return mounts.split('\n').map((l) => l.split(' ')).filter((f) => (f[2] === 'cgroup' || f[2] === 'cgroup2') && f[1]?.startsWith(base)).map((f) => f[1]!);
}

let roots: string[] | undefined;
/** cgroupRoots() of this host, read once: hierarchies are not mounted or unmounted under a running berthd. */
function hostRoots(): string[] {
  roots ??= rootsIn(readFileSync('/proc/self/mounts', 'utf8'), '/sys/fs/cgroup');
  return roots;
}

/**
 * Removes an empty cgroup directory in every hierarchy; a busy one is left.
 * With `busyWaitMs`, a cgroup whose last processes were just killed (they
 * leave it only once they have exited) gets that long to empty.
 */
export async function removeCgroup(path: string, busyWaitMs = 0): Promise<void> {
  const deadline = Date.now() + busyWaitMs;
  for (const root of hostRoots()) {
    for (;;) {
      const err = await rmdir(join(root, path)).then(() => undefined, (e: NodeJS.ErrnoException) => e);
      if (err?.code !== 'EBUSY' || Date.now() >= deadline) break;
      await sleep(10);
    }
  }
}

/**
 * Moves process `pid` (all its threads) into cgroup `path` in every
 * hierarchy, making the cgroup where it is missing. Its children from then
 * on are born there. In place, on the event loop: the ten writes of this
 * kind of v1 host take 0.3-1 ms together (a few ms when the kernel waits for
 * a grace period), where open, write and close of each through the thread
 * pool took 2-20 ms on the same, loaded, host.
 */
export function joinCgroup(path: string, pid: number): void {
  for (const root of hostRoots()) {
    const procs = join(root, path, 'cgroup.procs');
    try {
      writeFileSync(procs, String(pid));
      continue;
    } catch (err) {
      // ENOSPC: a v1 cpuset cgroup made without CPUs or memory nodes.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOSPC') throw err;
    }
    makeCgroup(root, path);
    writeFileSync(procs, String(pid));
  }
}

/**
 * Makes cgroup `path` under one hierarchy's root, each missing level in
 * turn. A new v1 cpuset cgroup has no CPUs and no memory nodes, and refuses
 * processes until it is given some: it gets its parent's, as runc does.
 */
function makeCgroup(root: string, path: string): void {
  let dir = root;
  for (const part of path.split('/').filter(Boolean)) {
    const parent = dir;
    dir = join(dir, part);
    try {
      mkdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      if (!existsSync(join(dir, file)) || readFileSync(join(dir, file), 'utf8').trim() !== '') continue;
      writeFileSync(join(dir, file), readFileSync(join(parent, file), 'utf8'));
    }
  }
}

let swap: boolean | undefined;
/** Whether the v1 memory controller accounts swap (memsw files exist), read once. */
export function swapAccounted(): boolean {
  swap ??= existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
  return swap;
}
