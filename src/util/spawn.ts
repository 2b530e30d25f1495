// Starting a process without fork(): libuv forks the daemon, copying its page
// tables on the event loop (about 2.5 ms at 75 MiB resident, growing with
// memory); posix_spawn in the native module does not (about 0.5 ms). berthd
// starts conmon, the runtime's commands, util-linux helpers and CNI plugins
// this way.
import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
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
}

export interface Spawned {
  process: SpawnedProcess;
  /** The daemon's end of each 'pipe-in'/'pipe-out' descriptor; undefined for 'null'. */
  pipes: (Socket | undefined)[];
}

/** Starts `file` (a path, or a name looked up on the daemon's PATH) with `args` (without argv[0]). */
export function spawnProcess(file: string, args: string[], o: SpawnOptions): Spawned {
  const n = loadNativeModule();
  const childFds: number[] = [];
  const ours: (number | undefined)[] = [];
  const toClose: number[] = [];
  try {
    let devnull: number | undefined;
    for (const kind of o.stdio) {
      if (typeof kind === 'object') {
        const mine = ours[kind.ours];
        if (mine === undefined) throw new Error(`stdio { ours: ${kind.ours} } names no pipe before it`);
        childFds.push(mine);
        ours.push(undefined);
        continue;
      }
      if (kind === 'null') {
        devnull ??= openSync('/dev/null', 'r+');
        childFds.push(devnull);
        ours.push(undefined);
        continue;
      }
      const [r, w] = n.pipe();
      const [theirs, mine] = kind === 'pipe-in' ? [r, w] : [w, r];
      childFds.push(theirs);
      toClose.push(theirs);
      ours.push(mine);
    }
    if (devnull !== undefined) toClose.push(devnull);
    const env = Object.entries(o.env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
    let exitCode: number | null | undefined;
    let settle!: (r: { code: number | null; signal: number | null }) => void;
    const exited = new Promise<{ code: number | null; signal: number | null }>((r) => (settle = r));
    const pid = n.spawn(file, [file, ...args], env, o.cwd ?? null, childFds, o.detached ?? false, o.keepAlive ?? true, (code, signal) => {
      exitCode = code;
      settle({ code, signal });
    });
    const proc: SpawnedProcess = {
      pid,
      get exitCode() {
        return exitCode;
      },
      exited,
      kill(signal) {
        if (exitCode !== undefined) return;
        try {
          process.kill(pid, signal);
        } catch {
          // exited meanwhile
        }
      },
    };
    const pipes = o.stdio.map((kind, i) =>
      kind === 'null' ? undefined : new Socket({ fd: ours[i]!, readable: kind === 'pipe-out', writable: kind === 'pipe-in' }));
    return { process: proc, pipes };
  } catch (err) {
    for (const fd of ours) if (fd !== undefined) closeSync(fd);
    throw err;
  } finally {
    // The child has its copies (or never started); the daemon keeps only its own ends.
    for (const fd of toClose) closeSync(fd);
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
}

/**
 * Runs a short-lived process to its end and collects its output. Rejects
 * only when it cannot start (the error carries the errno); how it ended is
 * in the outcome.
 */
export function collectProcess(file: string, args: string[], o: CollectOptions = {}): Promise<Outcome> {
  const max = o.maxBuffer ?? 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    let spawned: Spawned;
    try {
      spawned = spawnProcess(file, args, { env: o.env ?? process.env, stdio: [o.input !== undefined ? 'pipe-in' : 'null', 'pipe-out', 'pipe-out'] });
    } catch (err) {
      reject(err as Error);
      return;
    }
    const { process: child, pipes } = spawned;
    const [stdin, stdout, stderr] = pipes as [Socket | undefined, Socket, Socket];
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
  });
}
