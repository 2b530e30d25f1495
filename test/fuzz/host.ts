// What the fuzzer checks stays as it was on the host: mounts and their
// propagation, sysctls a request could name, the contents of system
// directories and of a canary directory whose files the hostile requests
// point at. Other tests (and other people's daemons) run on the same host at
// the same time, so what they may change is left out: everything under /tmp
// but the fuzzer's own canary, and container runtimes' directories.
import { readFileSync, readdirSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface Canary {
  dir: string;
  /** A regular file whose content must not change. */
  file: string;
  /** A FIFO: opening it for reading blocks until a writer comes. */
  fifo: string;
  /** A directory bind-mounted onto itself, private: a propagation source that does not propagate. */
  privateMount: string;
  /** Its content. */
  content: string;
}

export function makeCanary(dir: string): Canary {
  const c: Canary = {
    dir, file: join(dir, 'file'), fifo: join(dir, 'fifo'), privateMount: join(dir, 'private'),
    content: `canary ${process.pid}\n`,
  };
  writeFileSync(c.file, c.content);
  execFileSync('mkfifo', [c.fifo]);
  mkdirSync(c.privateMount);
  execFileSync('mount', ['--bind', c.privateMount, c.privateMount]);
  execFileSync('mount', ['--make-private', c.privateMount]);
  return c;
}

export function removeCanaryMounts(c: Canary): void {
  try {
    execFileSync('umount', ['-l', c.privateMount], { stdio: 'ignore' });
  } catch {
    // not mounted
  }
}

/** Sysctls the fuzzer's requests name (namespaced ones included: a request must not reach the host's). */
export const WATCHED_SYSCTLS = [
  'kernel/core_pattern', 'kernel/hostname', 'kernel/domainname', 'kernel/shmmax', 'kernel/shmall', 'kernel/shm_rmid_forced',
  'kernel/msgmax', 'kernel/msgmnb', 'kernel/sem', 'kernel/panic', 'kernel/sysrq', 'net/ipv4/ip_forward',
  'net/ipv4/ip_local_port_range', 'net/ipv4/ping_group_range', 'net/ipv4/tcp_syncookies', 'net/core/somaxconn',
  'fs/mqueue/msg_max', 'vm/overcommit_memory',
];

const SYSTEM_DIRS = ['/', '/etc', '/root', '/var/log', '/opt', '/usr/local/bin', '/usr/local/lib'];

// Paths other processes on this shared host legitimately mount and unmount.
const VOLATILE = [/^\/tmp\//, /^\/run\/(containerd|netns|user|crio|docker)(\/|$)/, /^\/var\/lib\/(containerd|docker|containers)(\/|$)/, /^\/var\/run\/netns(\/|$)/];

export interface HostSnapshot {
  mounts: Map<string, string>;
  sysctls: Map<string, string>;
  dirs: Map<string, string>;
  canary: Map<string, string>;
}

function listing(dir: string): string {
  try {
    return readdirSync(dir).sort().join(' ');
  } catch (err) {
    return `(${(err as NodeJS.ErrnoException).code})`;
  }
}

function walk(dir: string, out: Map<string, string>): void {
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    const st = lstatSync(p);
    out.set(p, `${st.mode.toString(8)} ${st.isFile() ? readFileSync(p, 'utf8') : ''}`);
    if (st.isDirectory()) walk(p, out);
  }
}

export function snapshot(canary: Canary, ownDirs: string[]): HostSnapshot {
  const mounts = new Map<string, string>();
  const seen = new Map<string, number>();
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)) {
    const f = l.split(' ');
    const mp = f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const ours = mp === canary.dir || mp.startsWith(`${canary.dir}/`);
    if (!ours && (VOLATILE.some((re) => re.test(mp)) || ownDirs.some((d) => mp.startsWith(`${d}/`) || mp === d))) continue;
    const optional = f.slice(6, f.indexOf('-')).map((o) => o.replace(/:\d+$/, '')).join(' ');
    // Stacked mounts on one point: each, in order.
    const n = seen.get(mp) ?? 0;
    seen.set(mp, n + 1);
    mounts.set(n ? `${mp} #${n}` : mp, `${f[8]} ${optional}`);
  }
  const sysctls = new Map<string, string>();
  for (const s of WATCHED_SYSCTLS) {
    try {
      sysctls.set(s, readFileSync(`/proc/sys/${s}`, 'utf8'));
    } catch {
      sysctls.set(s, '(unreadable)');
    }
  }
  const dirs = new Map(SYSTEM_DIRS.map((d) => [d, listing(d)]));
  const canaryFiles = new Map<string, string>();
  walk(canary.dir, canaryFiles);
  return { mounts, sysctls, dirs, canary: canaryFiles };
}

/** What changed between two snapshots, one line each. */
export function diff(a: HostSnapshot, b: HostSnapshot): string[] {
  const out: string[] = [];
  for (const key of ['mounts', 'sysctls', 'dirs', 'canary'] as const) {
    const x = a[key];
    const y = b[key];
    for (const [k, v] of x) if (y.get(k) !== v) out.push(`${key} ${k}: ${JSON.stringify(v).slice(0, 200)} -> ${JSON.stringify(y.get(k) ?? '(gone)').slice(0, 200)}`);
    for (const [k, v] of y) if (!x.has(k)) out.push(`${key} ${k}: new ${JSON.stringify(v).slice(0, 200)}`);
  }
  return out;
}

/** Resident and peak resident memory of a process, in bytes. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}
