// The host operations a pod needs that Node cannot do itself (it has no
// unshare, setns or mount): namespaces are made and pinned by the project's
// native module (src/util/native.ts), except the PID namespace, whose init
// (catatonit) is started by util-linux `unshare`; mounts are system calls
// through the same module (src/util/mount.ts).
import { writeFile, mkdir, readFile, readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnProcess } from '../util/spawn.js';
import { mount, MS } from '../util/mount.js';
import { loadNativeModule } from '../util/native.js';
import { isNamespace } from '../util/netns.js';

/**
 * Creates network, IPC and UTS namespaces (those given) and pins each by
 * bind-mounting it onto its file, then brings loopback up inside the new
 * network namespace. A thread of the native module does it: `unshare`
 * exec'ing `ip` cost two processes per pod, a sixth of a 30-pod burst's
 * process starts besides the OCI runtime's.
 */
export async function pinNamespaces(files: { net?: string; ipc?: string; uts?: string }): Promise<void> {
  const wanted = Object.values(files).filter((f): f is string => Boolean(f));
  if (wanted.length === 0) return;
  await Promise.all(wanted.map((file) => writeFile(file, '', { flag: 'a' })));
  await loadNativeModule().pinNamespaces(files.net ?? null, files.ipc ?? null, files.uts ?? null);
}

/**
 * Starts the pod's infra process (catatonit) as init of a new PID namespace
 * pinned on `file`. It is detached: berthd may die and come back without
 * taking the namespace along. `place` moves a process out of berthd's cgroup
 * (see cgroup/monitors.ts). Resolves with the PID of the `unshare` holding
 * it (killing that one kills catatonit too).
 */
export async function startInfra(infra: string, file: string, place: (pid: number) => void): Promise<number> {
  await writeFile(file, '', { flag: 'a' });
  const { process: child } = spawnProcess('unshare', ['--fork', `--pid=${file}`, '--kill-child', infra, '-P'], {
    detached: true, keepAlive: false, env: process.env, stdio: ['null', 'null', 'null'],
  });
  try {
    // Moved at once, so catatonit is normally born where it belongs.
    place(child.pid);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (await isNamespace(file)) {
        // `unshare` forks catatonit before it pins the namespace, so the
        // child exists now; one forked before the move above is moved too.
        const where = await readFile(`/proc/${child.pid}/cgroup`, 'utf8');
        const children = await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '');
        for (const c of children.split(' ').filter(Boolean)) {
          if ((await readFile(`/proc/${c}/cgroup`, 'utf8').catch(() => where)) !== where) place(Number(c));
        }
        return child.pid;
      }
      if (child.exitCode !== undefined) throw new Error(`infra process ${infra} exited with ${(await child.exited).code} before pinning its PID namespace`);
      await sleep(2);
    }
    throw new Error(`infra process ${infra} did not pin its PID namespace within 10s`);
  } catch (err) {
    await stopInfra(child.pid, file);
    throw err;
  }
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
 * The infra processes running on this host for pods under `sandboxesDir`
 * (`<state>/sandboxes`), by pod ID: each is the `unshare` whose command line
 * names its pod's PID namespace file. A restart finds them this way whether
 * or not a record kept their PID.
 */
export async function findInfraProcesses(sandboxesDir: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  const flag = `--pid=${sandboxesDir}/`;
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const ns = args.find((a) => a.startsWith(flag) && a.endsWith('/ns/pid'));
    if (!ns || !args[0]?.endsWith('unshare')) continue;
    found.set(ns.slice(flag.length, -'/ns/pid'.length), Number(pid));
  }
  return found;
}
