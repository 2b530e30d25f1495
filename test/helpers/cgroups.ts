// cgroups a test makes for itself (to place a berthd the way a service
// manager places a service) and where a process is in each hierarchy.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

interface Hierarchy {
  /** Mount point, e.g. /sys/fs/cgroup/memory. */
  root: string;
  /** Its v1 controllers (`memory`, `name=systemd`); empty for the v2 hierarchy. */
  controllers: string[];
}

/** Every cgroup hierarchy mounted under /sys/fs/cgroup: the v1 ones and the v2 one. */
export function hierarchies(): Hierarchy[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '))
    .filter((f) => (f[2] === 'cgroup' || f[2] === 'cgroup2') && f[1]!.startsWith('/sys/fs/cgroup'))
    .map((f) => ({
      root: f[1]!,
      controllers: f[2] === 'cgroup2' ? [] : f[3]!.split(',').filter((o) => !['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec'].includes(o)),
    }));
}

/** Process `pid`'s cgroup in each hierarchy, by mount point. */
export function cgroupsOf(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  const all = hierarchies();
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, ctrls, path] = /^\d+:([^:]*):(.*)$/.exec(line)!;
    const want = ctrls!.split(',').filter(Boolean);
    const h = all.find((x) => (want.length === 0 ? x.controllers.length === 0 : want.every((c) => x.controllers.includes(c))));
    if (h) out.set(h.root, path!);
  }
  return out;
}

export interface TestCgroup {
  /** The cgroupfs path, the same in every hierarchy. */
  path: string;
  /** Its cgroup.procs file in each hierarchy. */
  procsFiles: string[];
  /** Every process in it, in any hierarchy. */
  pids(): number[];
  /** SIGKILL for everything in it until it is empty: what systemd's KillMode=control-group does at stop. */
  killAll(): Promise<void>;
  /** Removes it from every hierarchy (after its processes are gone). */
  remove(): Promise<void>;
}

/** Makes cgroup `path` (a top-level name such as /berth-t1234-daemon) in every hierarchy. */
export function makeTestCgroup(path: string): TestCgroup {
  const roots = hierarchies().map((h) => h.root);
  for (const root of roots) {
    const dir = join(root, path);
    mkdirSync(dir);
    // A v1 cpuset cgroup takes no process before it has CPUs and memory nodes.
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if (existsSync(join(dir, f))) writeFileSync(join(dir, f), readFileSync(join(root, f), 'utf8'));
    }
  }
  const procsFiles = roots.map((r) => join(r, path, 'cgroup.procs'));
  const pids = (): number[] => [...new Set(procsFiles.flatMap((f) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number) : [])))];
  return {
    path,
    procsFiles,
    pids,
    async killAll() {
      for (let left = pids(); left.length; left = pids()) {
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
        await sleep(10);
      }
    },
    async remove() {
      for (const root of roots) {
        const dir = join(root, path);
        for (let i = 0; existsSync(dir); i++) {
          try {
            rmdirSync(dir);
          } catch (err) {
            // Processes just killed leave the cgroup once they have exited.
            if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || i > 3000) throw err;
            await sleep(10);
          }
        }
      }
    },
  };
}
