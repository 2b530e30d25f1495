// Shared measurement helpers for the benchmarks under bench/.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx];
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  min: number;
  max: number;
}

export function summarize(samples: number[]): Summary {
  return {
    n: samples.length,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    min: Math.min(...samples),
    max: Math.max(...samples),
  };
}

/** Runs `fn` and returns its wall time in milliseconds. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

/** A row per subject with p50/p95 and the ratio of each p50 to the first row's. */
export function printTable(title: string, rows: [string, Summary][]): void {
  console.log(`\n${title}`);
  const base = rows[0]?.[1].p50;
  console.log(`${'subject'.padEnd(34)} ${'n'.padStart(4)} ${'p50 ms'.padStart(9)} ${'p95 ms'.padStart(9)} ${'ratio p50'.padStart(10)}`);
  for (const [name, s] of rows) {
    const ratio = base ? (s.p50 / base).toFixed(2) + 'x' : '';
    console.log(`${name.padEnd(34)} ${String(s.n).padStart(4)} ${fmt(s.p50).padStart(9)} ${fmt(s.p95).padStart(9)} ${ratio.padStart(10)}`);
  }
}

/** Resident set size of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** A process's resident memory split into anonymous (heaps) and file-backed (mapped binaries) MiB. */
export function rssParts(pid: number): { anon: number; file: number; shmem: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile'), shmem: kb('RssShmem') };
}

/** CPU time (user+system) of a process in milliseconds, from /proc. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100;
}

/** p50/p99 of a sample set, for tables that care about the tail. */
export function tail(samples: number[]): { n: number; p50: number; p99: number; max: number } {
  return { n: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), max: samples.length ? Math.max(...samples) : NaN };
}

/** A ratio printed as "0.42x", or "n/a" when either side is missing. */
export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a';
}

/** One line of a fixed-width table: the first cell left-aligned, the rest right-aligned. */
export function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i] ?? 12) : String(c).padStart(widths[i] ?? 10))).join(' ');
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
}

/** Every process on the host now (those that exit while being read are left out). */
export function processTable(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(e), ppid, comm, cmdline });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * Proportional set size in KiB (/proc/PID/smaps_rollup): pages shared by N
 * processes count 1/N to each, so summing PSS over a runtime's processes
 * counts a shared binary once, not once per process as RSS would. 0 for a
 * process that is gone.
 */
export function pssKiB(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Size in KiB of the memfds a process holds open (/proc/PID/fd links named
 * /memfd:…): in-memory files such as berthd's sealed copy of runc, which
 * PSS leaves out when the process does not map them. 0 when gone.
 */
export function memfdKiB(pid: number): number {
  let total = 0;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 0;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('/memfd:')) total += statSync(`/proc/${pid}/fd/${fd}`).size;
    } catch {
      // closed meanwhile
    }
  }
  return total / 1024;
}

/**
 * CPU time of a process in ms: its own (utime+stime) and that of children it
 * has reaped (cutime+cstime), which is where a daemon's short-lived helpers
 * (runc, CNI plugins, a monitor that exited) end up. Undefined when gone.
 */
export function cpuTimes(pid: number): { self: number; children: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = (i: number): number => (Number(f[i]) * 1000) / CLOCK_TICKS;
    return { self: ms(11) + ms(12), children: ms(13) + ms(14) };
  } catch {
    return undefined;
  }
}

// USER_HZ: 100 on every Linux this project supports (what `getconf CLK_TCK` prints).
const CLOCK_TICKS = 100;

/** Wall time of every call, by method, and the failures (first few messages kept). */
export class CallLog {
  readonly ms = new Map<string, number[]>();
  readonly failures = new Map<string, { count: number; first: string[] }>();

  async time<T>(method: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      const r = await fn();
      const l = this.ms.get(method);
      if (l) l.push(performance.now() - t0);
      else this.ms.set(method, [performance.now() - t0]);
      return r;
    } catch (err) {
      const f = this.failures.get(method) ?? { count: 0, first: [] };
      f.count++;
      if (f.first.length < 3) f.first.push((err as Error).message);
      this.failures.set(method, f);
      throw err;
    }
  }

  failed(): number {
    let n = 0;
    for (const f of this.failures.values()) n += f.count;
    return n;
  }
}

/** Runs `runc` with `args` to its end; its exit code. */
export function runc(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // No pipes: a detached container inherits runc's stdio and would hold them
    // open. A session of its own, as the runc a runtime runs has (berthd's
    // from conmon in a pod's cgroup, containerd's from its shim): in the
    // benchmark's session it would share the client threads' CPU weight
    // under autogroup scheduling (see StartOptions.ownSession).
    const p = spawn('runc', args, { stdio: 'ignore', detached: true });
    p.once('error', reject);
    p.once('exit', (code) => resolve(code ?? -1));
  });
}

/** A runc bundle running busybox `sleep` (with `true` to exec), built from `runc spec`. */
export function runcBundle(dir: string): string {
  const bundle = join(dir, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
  cpSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const applet of ['sleep', 'true']) execFileSync('ln', [join(rootfs, 'bin', 'busybox'), join(rootfs, 'bin', applet)]);
  execFileSync('runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  spec.process.args = ['/bin/sleep', '3600'];
  spec.process.terminal = false;
  spec.root.readonly = false;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  return bundle;
}

