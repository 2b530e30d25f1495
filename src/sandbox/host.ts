// The host operations a pod needs that Node cannot do itself (it has no
// unshare, setns or mount): namespaces are made by util-linux processes
// (RunPodSandbox runs the two it needs in parallel, each started without
// forking the daemon); mounts are system calls through the project's native
// module (src/util/mount.ts).
import { writeFile, mkdir, readFile, rmdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { run } from '../util/run.js';
import { spawnProcess } from '../util/spawn.js';
import { mount, umount, MountError, MS, MNT_DETACH } from '../util/mount.js';
import { isNamespace } from '../util/netns.js';


/**
 * Creates network, IPC and UTS namespaces (those given) and pins each by
 * bind-mounting it onto its file, then brings loopback up inside the new
 * network namespace: `unshare` execs `ip` already inside them, one process.
 */
export async function pinNamespaces(files: { net?: string; ipc?: string; uts?: string }): Promise<void> {
  const args: string[] = [];
  for (const [kind, file] of Object.entries(files)) {
    if (!file) continue;
    await writeFile(file, '', { flag: 'a' });
    args.push(`--${kind}=${file}`);
  }
  if (args.length === 0) return;
  const cmd = files.net ? ['ip', 'link', 'set', 'lo', 'up'] : ['true'];
  await run('unshare', [...args, ...cmd], { timeoutMs: 30_000 });
}

/**
 * Starts the pod's infra process (catatonit) as init of a new PID namespace
 * pinned on `file`. It is detached: berthd may die and come back without
 * taking the namespace along. Resolves with the PID of the `unshare` holding
 * it (killing that one kills catatonit too).
 */
export async function startInfra(infra: string, file: string): Promise<number> {
  await writeFile(file, '', { flag: 'a' });
  const { process: child } = spawnProcess('unshare', ['--fork', `--pid=${file}`, '--kill-child', infra, '-P'], {
    detached: true, keepAlive: false, env: process.env, stdio: ['null', 'null', 'null'],
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await isNamespace(file)) return child.pid;
    if (child.exitCode !== undefined) throw new Error(`infra process ${infra} exited with ${(await child.exited).code} before pinning its PID namespace`);
    await sleep(2);
  }
  child.kill('SIGKILL');
  throw new Error(`infra process ${infra} did not pin its PID namespace within 10s`);
}

/**
 * Kills an infra process if it is still ours (the PID may have been reused
 * after a restart). catatonit is killed first so `unshare` reaps it and exits
 * itself; killing `unshare` first would leave catatonit a zombie for PID 1.
 */
export async function stopInfra(pid: number, file: string): Promise<void> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes(file)) return;
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  for (const c of children.split(' ').filter(Boolean)) {
    try {
      process.kill(Number(c), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline && (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(file)) await sleep(5);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // exited after its child, as expected
  }
}

export async function mountShm(dir: string, sizeBytes = 64 * 1024 * 1024): Promise<void> {
  await mkdir(dir, { recursive: true });
  await mount('shm', dir, 'tmpfs', MS.NOSUID | MS.NODEV | MS.NOEXEC, `mode=1777,size=${sizeBytes}`);
}

/**
 * Unmounts whichever of `paths` are mounted. Idempotent: umount2 itself says
 * when a path is not a mount point (EINVAL) or not there (ENOENT), so the
 * mount table is not read.
 */
export async function unmountAll(paths: string[]): Promise<void> {
  for (const target of paths) {
    try {
      await umount(target);
    } catch (err) {
      if (!(err instanceof MountError)) throw err;
      if (err.code === 'EINVAL' || err.code === 'ENOENT') continue;
      // Busy: detach it now so remove never sticks; the kernel finishes it later.
      await umount(target, MNT_DETACH).catch(() => undefined);
    }
  }
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
