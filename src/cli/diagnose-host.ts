// What `berth diagnose` reads from the host itself, so that it works with
// berthd down: berthd's log, the runtime's state, processes, mounts,
// cgroups, CNI files, disk usage and the kernel's messages.
import { execFile } from 'node:child_process';
import { closeSync, existsSync, fstatSync, lstatSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';

export interface CommandResult { stdout: string; stderr: string; code: number }

/** Runs a host command to its end (or its timeout); never throws for a non-zero exit. */
export function runHost(cmd: string, args: string[], timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
      if (e && typeof e.code === 'string') return reject(new Error(`${cmd}: ${e.code === 'ENOENT' ? 'not installed' : e.message}`));
      if (e?.killed) return reject(new Error(`${cmd} ${args.join(' ')}: no answer within ${timeoutMs / 1000}s`));
      resolve({ stdout, stderr, code: e ? Number(e.code ?? 1) : 0 });
    });
  });
}

/** The last `lines` lines of a file, reading at most its last 32 MiB. */
export function tailFile(path: string, lines: number): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 32 << 20);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const all = buf.toString('utf8').split('\n');
    if (all[all.length - 1] === '') all.pop();
    // A partial first line (the read started mid-line) is dropped unless the whole file was read.
    const whole = len === size ? all : all.slice(1);
    return whole.slice(-lines).join('\n') + '\n';
  } finally {
    closeSync(fd);
  }
}

export interface DaemonProcess {
  pid: number;
  args: string;
  stderr: string;
  /** It holds the listening socket of the endpoint asked about. */
  serves: boolean;
}

/** The inode of the unix socket bound at `path`, from /proc/net/unix. */
function socketInode(path: string): string | undefined {
  try {
    for (const l of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = l.trim().split(/\s+/);
      if (f[7] === path) return f[6];
    }
  } catch {
    // no procfs view of sockets
  }
  return undefined;
}

function holdsSocket(pid: string, inode: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/**
 * Running berthd processes, with where each one's stderr (its JSON log)
 * goes: a file can be read; a pipe or socket is a supervisor's (journald).
 */
export function findBerthd(socketPath: string): DaemonProcess[] {
  const out: DaemonProcess[] = [];
  const inode = socketInode(socketPath);
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    // `berthd`, `berthd.js` or `node [flags] …/berthd.js`, not a shell or editor that mentions it.
    const script = /(^|\/)node$/.test(argv[0] ?? '') ? argv.slice(1).find((a) => !a.startsWith('-')) : argv[0];
    if (!script || !/(^|\/)berthd(\.js)?$/.test(script)) continue;
    let stderr: string;
    try {
      stderr = readlinkSync(`/proc/${name}/fd/2`);
    } catch {
      stderr = '(unreadable)';
    }
    out.push({ pid: Number(name), args: argv.join(' '), stderr, serves: inode !== undefined && holdsSocket(name, inode) });
  }
  return out;
}

/** True when systemd is PID 1 (its journal may hold berthd's log). */
export function systemdBooted(): boolean {
  return existsSync('/run/systemd/system');
}

/**
 * `ps` lines of berthd, conmon, catatonit and runc, of anything running from
 * berth's directories, and of the containers' own processes (`pids`).
 */
export async function processes(cfg: Config, pids: number[]): Promise<string> {
  const r = await runHost('ps', ['-eo', 'pid,ppid,user,stat,etimes,rss,args', '--sort', 'pid']);
  const [header, ...rows] = r.stdout.split('\n');
  const want = /\b(berthd|conmon|catatonit|runc|crun)\b/;
  const dirs = [cfg.daemon.root, cfg.daemon.state];
  const ours = new Set(pids);
  const picked = rows.filter((l) => want.test(l) || dirs.some((d) => l.includes(d)) || ours.has(Number(l.trim().split(/\s+/)[0])));
  return [header, ...picked].join('\n') + '\n';
}

/** Mounts under berth's directories (tmpfs, overlays, /dev/shm, pinned namespaces). */
export function mounts(cfg: Config): string {
  const dirs = [cfg.daemon.root, cfg.daemon.state];
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  return lines.filter((l) => {
    const mp = (l.split(' ')[4] ?? '').replace(/\\040/g, ' ');
    return dirs.some((d) => mp === d || mp.startsWith(`${d}/`)) || dirs.some((d) => l.includes(`${d}/`));
  }).join('\n') + '\n';
}

// Per controller, the files that say what a cgroup holds and what it is allowed.
const V1_FILES: Record<string, string[]> = {
  memory: ['memory.limit_in_bytes', 'memory.usage_in_bytes', 'memory.max_usage_in_bytes', 'memory.failcnt', 'memory.oom_control', 'memory.stat'],
  cpu: ['cpu.shares', 'cpu.cfs_quota_us', 'cpu.cfs_period_us', 'cpu.stat'],
  cpuacct: ['cpuacct.usage'],
  pids: ['pids.current', 'pids.max', 'pids.events'],
  cpuset: ['cpuset.cpus', 'cpuset.mems'],
  freezer: ['freezer.state'],
};
const V2_FILES = ['cgroup.controllers', 'cgroup.events', 'memory.current', 'memory.max', 'memory.events', 'memory.stat', 'cpu.max', 'cpu.weight', 'cpu.stat', 'pids.current', 'pids.max', 'pids.events'];

function readSmall(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trimEnd();
  } catch {
    return undefined;
  }
}

/** Hierarchies mounted under /sys/fs/cgroup: the unified one, or each v1 controller (aliases skipped). */
function hierarchies(): { name: string; path: string; files: string[] }[] {
  const base = '/sys/fs/cgroup';
  if (existsSync(join(base, 'cgroup.controllers'))) return [{ name: 'unified', path: base, files: V2_FILES }];
  const out: { name: string; path: string; files: string[] }[] = [];
  for (const name of existsSync(base) ? readdirSync(base).sort() : []) {
    const path = join(base, name);
    if (lstatSync(path).isSymbolicLink() || !statSync(path).isDirectory()) continue;
    const files = name === 'unified' ? V2_FILES : name.split(',').flatMap((c) => V1_FILES[c] ?? []);
    out.push({ name, path, files: ['cgroup.procs', ...files] });
  }
  return out;
}

/**
 * Every cgroup under the given parents (berth's `runtime.cgroup_parent`, and
 * pods that named their own), in every hierarchy, with its key files. Bounded
 * so a node with thousands of containers still gives a bundle.
 */
export function cgroups(parents: string[], maxDirs = 2000): Map<string, string> {
  const out = new Map<string, string>();
  for (const h of hierarchies()) {
    let text = '';
    let seen = 0;
    const walk = (dir: string, depth: number): void => {
      if (seen >= maxDirs || !existsSync(dir)) return;
      seen++;
      text += `== ${dir.slice(h.path.length) || '/'}\n`;
      for (const f of h.files) {
        const v = readSmall(join(dir, f));
        if (v !== undefined) text += v.includes('\n') ? `${f}:\n  ${v.replace(/\n/g, '\n  ')}\n` : `${f}: ${v}\n`;
      }
      if (depth >= 4) return;
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name), depth + 1);
    };
    for (const p of parents) walk(join(h.path, p), 0);
    if (seen >= maxDirs) text += `(stopped after ${maxDirs} cgroups)\n`;
    if (text) out.set(h.name.replace(/,/g, '+'), text);
  }
  return out;
}

/** Regular files of a directory (not recursive), for CNI config and cache. */
export function filesOf(dir: string, maxBytes = 1 << 20): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = join(dir, e.name);
    out.set(e.name, statSync(p).size > maxBytes ? `(${statSync(p).size} bytes, not copied)\n` : readFileSync(p, 'utf8'));
  }
  return out;
}

const KERNEL = /out of memory|oom[-_ ]kill|oom_reaper|killed process|memory cgroup|seccomp|audit.*syscall=|invoked oom-killer/i;

/** Kernel messages about OOM kills and seccomp, and the last lines for context. */
export async function kernelMessages(tail = 300): Promise<{ matched: string; tail: string }> {
  const r = await runHost('dmesg', ['--time-format', 'iso']);
  if (r.code !== 0) throw new Error(`dmesg: ${r.stderr.trim() || `exit ${r.code}`}`);
  const lines = r.stdout.split('\n').filter(Boolean);
  return { matched: lines.filter((l) => KERNEL.test(l)).join('\n') + '\n', tail: lines.slice(-tail).join('\n') + '\n' };
}
