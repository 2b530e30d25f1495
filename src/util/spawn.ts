// Starting a process without fork(): libuv forks the daemon, copying its page
// tables on the event loop (about 2.5 ms at 75 MiB resident, growing with
// memory); posix_spawn in the native module does not (about 0.5 ms). berthd
// starts conmon, the runtime's commands, util-linux helpers and CNI plugins
// this way.
import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants, setPriority } from 'node:os';
import { loadNativeModule } from './native.js';
import { clampTimerMs } from './timers.js';

export interface SpawnedProcess {
  readonly pid: number;
  /** Exit code, or null when killed by a signal; undefined while running. */
  readonly exitCode: number | null | undefined;
  /** Settles when the process has exited and been reaped. */
  readonly exited: Promise<{ code: number | null; signal: number | null }>;
  /** Signals the process unless it has already exited (its PID may be reused after). */
  kill(signal: NodeJS.Signals): void;
}

export interface SpawnOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** New session (and process group), like child_process's `detached`. */
  detached?: boolean;
  /**
   * Whether the running process keeps the daemon's event loop alive (default
   * true, as a ChildProcess does until unref()); false for long-lived children.
   */
  keepAlive?: boolean;
  /**
   * The child's descriptors from 0 up: 'null' for /dev/null, 'pipe-in' for a
   * pipe the daemon writes to, 'pipe-out' for one it reads from, or
   * `{ ours: i }` for a copy of the daemon's own end of the pipe at position
   * i (a child that holds a reader of its own output pipe never gets EPIPE
   * when the daemon is gone). The daemon's ends come back as sockets, in the
   * positions of their pipes.
   */
  stdio: ('null' | 'pipe-in' | 'pipe-out' | { ours: number })[];
  /** The program's name as it sees it and `ps` shows it (argv[0]); default `file`. */
  argv0?: string;
}

export interface Spawned {
  process: SpawnedProcess;
  /** The daemon's end of each 'pipe-in'/'pipe-out' descriptor; undefined for 'null'. */
  pipes: (Socket | undefined)[];
}

/** The child's descriptors and the daemon's ends of its pipes, made ready for a spawn. */
interface Plumbing {
  childFds: number[];
  ours: (number | undefined)[];
  /** The child's ends (and /dev/null): closed once the child has its copies. */
  toClose: number[];
}

function plumb(stdio: SpawnOptions['stdio']): Plumbing {
  const n = loadNativeModule();
  const p: Plumbing = { childFds: [], ours: [], toClose: [] };
  try {
    let devnull: number | undefined;
    for (const kind of stdio) {
      if (typeof kind === 'object') {
        const mine = p.ours[kind.ours];
        if (mine === undefined) throw new Error(`stdio { ours: ${kind.ours} } names no pipe before it`);
        p.childFds.push(mine);
        p.ours.push(undefined);
        continue;
      }
      if (kind === 'null') {
        if (devnull === undefined) {
          devnull = openSync('/dev/null', 'r+');
          p.toClose.push(devnull);
        }
        p.childFds.push(devnull);
        p.ours.push(undefined);
        continue;
      }
      const [r, w] = n.pipe();
      const [theirs, mine] = kind === 'pipe-in' ? [r, w] : [w, r];
      p.childFds.push(theirs);
      p.toClose.push(theirs);
      p.ours.push(mine);
    }
    return p;
  } catch (err) {
    unplumb(p, true);
    throw err;
  }
}

/** Closes the child's ends; with `failed`, the daemon's ends too (nothing was started). */
function unplumb(p: Plumbing, failed: boolean): void {
  for (const fd of p.toClose) closeSync(fd);
  if (failed) for (const fd of p.ours) if (fd !== undefined) closeSync(fd);
}

function nativeArgs(file: string, args: string[], o: SpawnOptions, p: Plumbing): [string, string[], string[], string | null, number[], boolean, boolean] {
  const env = Object.entries(o.env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
  return [file, [o.argv0 ?? file, ...args], env, o.cwd ?? null, p.childFds, o.detached ?? false, o.keepAlive ?? true];
}

/** The process handle and the daemon's pipe ends of a started child. */
function started(pid: number, exited: Promise<{ code: number | null; signal: number | null }>, exitCode: () => number | null | undefined,
  stdio: SpawnOptions['stdio'], p: Plumbing): Spawned {
  const proc: SpawnedProcess = {
    pid,
    get exitCode() {
      return exitCode();
    },
    exited,
    kill(signal) {
      if (exitCode() !== undefined) return;
      try {
        process.kill(pid, signal);
      } catch {
        // exited meanwhile
      }
    },
  };
  const pipes = stdio.map((kind, i) =>
    kind === 'null' ? undefined : new Socket({ fd: p.ours[i]!, readable: kind === 'pipe-out', writable: kind === 'pipe-in' }));
  return { process: proc, pipes };
}

/** An exit the native module reports once, as a promise and a readable code. */
function exitWatch(): { onExit: (code: number | null, signal: number | null) => void; exited: Promise<{ code: number | null; signal: number | null }>; code: () => number | null | undefined } {
  let exitCode: number | null | undefined;
  let settle!: (r: { code: number | null; signal: number | null }) => void;
  const exited = new Promise<{ code: number | null; signal: number | null }>((r) => (settle = r));
  return {
    onExit: (code, signal) => {
      exitCode = code;
      settle({ code, signal });
    },
    exited,
    code: () => exitCode,
  };
}

/**
 * Starts `file` (a path, or a name looked up on the daemon's PATH) with `args`
 * (without argv[0]). The event loop waits until the child has exec'd; where
 * the PID may come later, spawnProcessAsync does not make it wait.
 */
export function spawnProcess(file: string, args: string[], o: SpawnOptions): Spawned {
  const p = plumb(o.stdio);
  const w = exitWatch();
  let pid: number;
  try {
    pid = loadNativeModule().spawn(...nativeArgs(file, args, o, p), w.onExit);
  } catch (err) {
    unplumb(p, true);
    throw err;
  }
  // The child has its copies; the daemon keeps only its own ends.
  unplumb(p, false);
  return started(pid, w.exited, w.code, o.stdio, p);
}

/**
 * spawnProcess with the wait for the child's exec on a thread-pool thread:
 * under CPU contention that wait took milliseconds, at the tail hundreds,
 * with every other call waiting behind it on the event loop.
 */
export async function spawnProcessAsync(file: string, args: string[], o: SpawnOptions): Promise<Spawned> {
  const p = plumb(o.stdio);
  const w = exitWatch();
  let pid: Promise<number>;
  try {
    pid = loadNativeModule().spawnAsync(...nativeArgs(file, args, o, p), w.onExit);
  } catch (err) {
    unplumb(p, true);
    throw err;
  }
  // The native side holds duplicates of the child's descriptors from here on.
  unplumb(p, false);
  try {
    return started(await pid, w.exited, w.code, o.stdio, p);
  } catch (err) {
    for (const fd of p.ours) if (fd !== undefined) closeSync(fd);
    throw err;
  }
}

/** SIGKILL for 9, for messages. */
export function signalName(n: number): string {
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;
}

export interface Outcome {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  signal: number | null;
  stdout: Buffer;
  stderr: Buffer;
  /** Killed after `timeoutMs`. */
  timedOut: boolean;
  /** Stdout or stderr went over `maxBuffer` (and the process was killed, unless `overflow: 'truncate'`). */
  overflowed: boolean;
}

export interface CollectOptions {
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  input?: string | Uint8Array;
  /** Longer than a timer holds (about 24.8 days) waits that long; 0 or absent, no timeout. */
  timeoutMs?: number;
  /** Signal for a timeout or an overflow; default SIGTERM. */
  killSignal?: NodeJS.Signals;
  /** Bytes kept of stdout and of stderr each; default 16 MiB. */
  maxBuffer?: number;
  /** Past maxBuffer: kill the process (default), or keep it running and drop the rest. */
  overflow?: 'kill' | 'truncate';
  /** Runs at the timeout before the process is killed (e.g. to kill what it started). */
  onTimeout?: () => Promise<unknown> | void;
  /**
   * After onTimeout, how long the process may take to exit on its own before
   * it is killed; default 0. A parent that reaps what onTimeout killed (as
   * `runc exec` reaps its command) is given the time to do so.
   */
  killGraceMs?: number;
  /**
   * Scheduling niceness for the process, set once it has exec'd: work nobody
   * waits for (a background cleanup) then yields the CPU to work somebody does.
   */
  niceness?: number;
  /** argv[0], when the file run is not the name to show (see SpawnOptions). */
  argv0?: string;
}

/**
 * Runs a short-lived process to its end and collects its output. Rejects
 * only when it cannot start (the error carries the errno); how it ended is
 * in the outcome.
 */
export function collectProcess(file: string, args: string[], o: CollectOptions = {}): Promise<Outcome> {
  const max = o.maxBuffer ?? 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    spawnProcessAsync(file, args, { env: o.env ?? process.env, argv0: o.argv0, stdio: [o.input !== undefined ? 'pipe-in' : 'null', 'pipe-out', 'pipe-out'] })
      .then((spawned) => watch(spawned, resolve), reject);
  });

  function watch({ process: child, pipes }: Spawned, resolve: (o: Outcome) => void): void {
    const [stdin, stdout, stderr] = pipes as [Socket | undefined, Socket, Socket];
    if (o.niceness !== undefined) {
      try {
        setPriority(child.pid, o.niceness);
      } catch {
        // exited already, or not allowed here: it runs at the daemon's priority
      }
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const size = [0, 0];
    let timedOut = false;
    let overflowed = false;
    const kill = (): void => child.kill(o.killSignal ?? 'SIGTERM');
    let grace: NodeJS.Timeout | undefined;
    const timer = o.timeoutMs ? setTimeout(() => {
      timedOut = true;
      void Promise.resolve().then(o.onTimeout).catch(() => undefined).finally(() => {
        if (o.killGraceMs) grace = setTimeout(kill, clampTimerMs(o.killGraceMs));
        else kill();
      });
    }, clampTimerMs(o.timeoutMs)) : undefined;
    const take = (into: Buffer[], i: number) => (b: Buffer): void => {
      if (size[i]! < max) into.push(b.subarray(0, max - size[i]!));
      size[i]! += b.length;
      if (size[i]! > max && !overflowed) {
        overflowed = true;
        if (o.overflow !== 'truncate') kill();
      }
    };
    stdout.on('data', take(out, 0));
    stderr.on('data', take(err, 1));
    const closed = [stdout, stderr].map((s) => new Promise<void>((r) => {
      s.on('error', () => undefined);
      s.once('close', () => r());
    }));
    if (stdin && o.input !== undefined) {
      stdin.on('error', () => undefined); // a program may exit without reading its input
      stdin.end(o.input);
    }
    void Promise.all([child.exited, ...closed]).then(([exit]) => {
      if (timer) clearTimeout(timer);
      if (grace) clearTimeout(grace);
      resolve({ ...exit, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut, overflowed });
    });
  }
}
