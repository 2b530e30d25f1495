// The OCI runtime (runc) commands berthd runs itself, and the conmon launch
// that creates a container. Creation goes through conmon so the container's
// parent is conmon, never berthd.
import { constants as fsConstants, openSync, readFileSync, unlinkSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { run, RunError, type RunOptions, type RunResult } from '../util/run.js';
import { spawnProcessAsync } from '../util/spawn.js';
import type { SealedBinary } from './sealed-binary.js';

export interface ConmonOptions {
  conmon: string;
  id: string;
  name: string;
  bundle: string;
  /** Where conmon writes the exit file of this container (shared by all containers). */
  exitDir: string;
  /** Directory holding short symlinks to bundles, so attach socket paths fit in 108 bytes. */
  socketDir: string;
  /** conmon's own files: the `exit` and `oom` markers. */
  persistDir: string;
  logPath: string;
  stdin: boolean;
  /** Close the container's stdin when the first attached client leaves (CRI stdin_once). */
  stdinOnce?: boolean;
  tty: boolean;
  logSizeMax?: number;
  /** CRIU images to restore the container from: conmon runs `runtime restore` instead of `create`. */
  restore?: string;
}

/** A conmon started by launchConmon, waiting to be released. */
export interface ConmonLaunch {
  /** conmon's PID: it runs nothing until released, so it can still be moved (another cgroup). */
  readonly pid: number;
  /** Lets conmon run `runtime create`; resolves with the container's PID. */
  create(): Promise<number>;
  /** Kills conmon before it created anything (a failed CreateContainer). */
  abort(): void;
}

/** What a dump keeps and its restore must take back: established TCP connections and file locks. */
const CRIU_OPTIONS = ['--tcp-established', '--file-locks'];
// A background delete competing with a container start or a stats call gets
// about a tenth of the CPU time they get (the kernel's weight for nice 10).
const BACKGROUND_NICENESS = 10;

export type RuntimeStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export class OciRuntime {
  constructor(
    readonly name: string,
    readonly path: string,
    readonly root: string,
    /** Release created containers through the exec FIFO instead of `<runtime> start` (see start()). */
    private readonly execFifoStart = false,
    /** A sealed copy of the binary to run instead of `path` (see sealed-binary.ts). */
    private readonly binary?: SealedBinary,
  ) {}

  /** The file to execute for this runtime: `path`, or its sealed copy. */
  exe(): string {
    return this.binary?.path() ?? this.path;
  }

  close(): void {
    this.binary?.close();
  }

  /** A runtime command: its errors and `ps` name the configured path, not the sealed copy's /proc path. */
  private command(args: string[], opts: Omit<RunOptions, 'argv0'> = {}): Promise<RunResult> {
    return run(this.exe(), args, { ...opts, argv0: this.path });
  }

  private args(...rest: string[]): string[] {
    return ['--root', this.root, ...rest];
  }

  /**
   * Starts conmon, held before it runs `runtime create` (conmon waits for a
   * byte on its start pipe). Spawning it early lets conmon load while the
   * daemon mounts the rootfs and writes the spec; `create()` then releases it
   * and resolves with the container's PID, or rejects with the runtime's error.
   * `abort()` kills a held conmon that must not create anything. The wait
   * for conmon's exec is on a thread-pool thread: under CPU contention it
   * took tens of milliseconds, which the event loop (every other call) would
   * otherwise wait out.
   */
  async launchConmon(o: ConmonOptions): Promise<ConmonLaunch> {
    const pidFile = join(o.bundle, 'pidfile');
    const args = [
      '--api-version', '1', '-c', o.id, '-u', o.id, '-n', o.name, '-r', this.exe(), '-b', o.bundle,
      '-p', pidFile, '-l', `k8s-file:${o.logPath}`,
      '--exit-dir', o.exitDir, '--socket-dir-path', o.socketDir, '-0', o.persistDir,
      '--runtime-arg', '--root', '--runtime-arg', this.root, '--log-level', 'error', '--sync',
    ];
    if (o.stdin) args.push('-i');
    // Otherwise conmon closes the container's stdin when an attach session ends.
    if (o.stdin && !o.stdinOnce) args.push('--leave-stdin-open');
    if (o.tty) args.push('-t');
    if (o.restore) args.push('--restore', o.restore, ...CRIU_OPTIONS.flatMap((opt) => ['--runtime-opt', opt]));
    if (o.logSizeMax && o.logSizeMax > 0) args.push('--log-size-max', String(o.logSizeMax));
    // fd 3 is conmon's sync pipe: it reports {"data": pid} (or a negative value
    // and a message); fd 4 its start pipe. conmon treats a failed write to
    // the sync pipe as fatal, so a berthd killed between release and report
    // would take conmon with it and leave the created container unwatched:
    // conmon gets its own copy of the read ends of its sync and stderr pipes
    // (fds 5 and 6, never read), so its writes find a reader whatever happens
    // to berthd. --sync keeps conmon our direct child while berthd lives, so
    // its exit is reaped here instead of lingering as a zombie under PID 1;
    // detached (own session) so it outlives berthd. It is spawned without
    // forking the daemon (util/spawn.ts): this runs on every CreateContainer.
    const { process: child, pipes } = await spawnProcessAsync(o.conmon, args, {
      detached: true,
      keepAlive: false,
      stdio: ['null', 'null', 'pipe-out', 'pipe-out', 'pipe-in', { ours: 3 }, { ours: 2 }],
      env: { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' },
      cwd: o.bundle,
    });
    // With --sync conmon writes no pid file of its own (-P is honoured only
    // when it daemonizes); removal and restarts find it through this one.
    writeFileSync(join(o.bundle, 'conmon.pid'), String(child.pid));
    const [, , stderrPipe, syncPipe, startPipe] = pipes as Socket[];
    let stderr = '';
    let sync = '';
    let released = false;
    // The first outcome wins: the runtime's pid file, or conmon's report.
    let outcome: { err?: Error; pid?: number } | undefined;
    let deliver: ((r: { err?: Error; pid?: number }) => void) | undefined;
    const report = (r: { err?: Error; pid?: number }): void => {
      if (outcome) return;
      outcome = r;
      deliver?.(r);
    };
    let watcher: FSWatcher | undefined;
    // The sync pipe stays open until conmon has written to it: conmon treats
    // a failed write there as fatal, and would leave the container unwatched.
    const close = (): void => {
      watcher?.close();
      syncPipe.destroy();
      startPipe.destroy();
      stderrPipe.destroy();
    };
    stderrPipe.on('data', (d: Buffer) => (stderr += d.toString()));
    stderrPipe.on('error', () => undefined);
    syncPipe.on('data', (d: Buffer) => {
      sync += d.toString();
      const end = sync.indexOf('}');
      if (end < 0) return;
      try {
        const msg = JSON.parse(sync.slice(0, end + 1)) as { data: number; message?: string };
        if (msg.data > 0) report({ pid: msg.data });
        else report({ err: new RunError(`${this.name} create`, msg.data, msg.message ?? 'container creation failed') });
      } catch (err) {
        report({ err: err as Error });
      }
      close();
    });
    syncPipe.on('end', () => {
      report({ err: new RunError('conmon', child.exitCode ?? null, stderr || 'conmon closed its sync pipe without a result') });
      close();
    });
    syncPipe.on('error', () => undefined);
    startPipe.on('error', () => undefined);
    return {
      pid: child.pid,
      create: () => {
        released = true;
        // runc renames the container's pid file into place as the last step
        // of a successful `create` (its state saved, init parked on the exec
        // FIFO). Taking the PID from there, not from conmon's report, skips
        // the runtime's exit, conmon's wake-up and a pipe: 1-2 ms here. A
        // runtime that writes the file in place shows it empty at creation
        // and is heard through conmon.
        try {
          if (!outcome) watcher = watch(o.bundle, (event, name) => {
            if (event !== 'rename' || name !== 'pidfile') return;
            let pid: number;
            try {
              pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
            } catch {
              return;
            }
            if (pid > 0) report({ pid });
          });
          watcher?.on('error', () => watcher?.close());
        } catch {
          // No watch (inotify limits): conmon's report still comes.
        }
        return new Promise<number>((resolve, reject) => {
          deliver = (r) => (r.err ? reject(r.err) : resolve(r.pid!));
          if (outcome) deliver(outcome);
          else startPipe.end('0');
        });
      },
      abort: () => {
        if (released) return;
        released = true;
        // Killed while it waits on the start pipe: it never runs the runtime.
        child.kill('SIGKILL');
        close();
      },
    };
  }

  /**
   * Starts a created container whose init process is `pid`. runc and crun
   * park a created container's init on opening `<root>/<id>/exec.fifo` for
   * writing; their `start` command opens it for reading, takes the byte init
   * writes, and removes the FIFO (which is how `state` tells created from
   * running). Doing that here saves a runtime process per start. Without a
   * FIFO (another runtime, or the handler opted out) `<runtime> start` runs.
   */
  async start(id: string, pid: number): Promise<void> {
    // Without the init's PID a dead init could not be told from a slow one.
    if (this.execFifoStart && pid > 0 && (await this.releaseThroughFifo(id, pid))) return;
    await this.command(this.args('start', id));
  }

  /** False when there is no exec FIFO to release the container through. */
  private async releaseThroughFifo(id: string, pid: number): Promise<boolean> {
    const fifo = join(this.root, id, 'exec.fifo');
    let fd: number;
    try {
      // Non-blocking, so a dead init (no writer) cannot hang the open; that
      // also makes it instant, so it is made in place.
      fd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    const released = await new Promise<boolean>((resolve, reject) => {
      // A pipe handle on the FIFO: the event loop waits for init's byte
      // instead of a thread blocking in read().
      const pipe = new Socket({ fd, readable: true, writable: false });
      let got = false;
      // An init that died before opening its end never writes nor hangs up:
      // look for it the way the runtime does, every 100 ms.
      const watch = setInterval(() => {
        void initGone(pid).then((gone) => {
          if (gone && !got) pipe.destroy();
        });
      }, 100);
      const done = (err?: Error): void => {
        clearInterval(watch);
        pipe.destroy();
        if (err) reject(err);
        else resolve(got);
      };
      pipe.on('data', (d: Buffer) => {
        if (d.length) got = true;
      });
      pipe.on('error', (err) => done(err));
      pipe.on('close', () => done());
    });
    if (!released) throw new RunError(`${this.name} start`, 1, `container ${id}: its process exited before it was started`);
    try {
      unlinkSync(fifo);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return true;
  }

  /** Sends a signal; `all` signals every process of the container. Not running is not an error. */
  async kill(id: string, signal: string, all = false): Promise<void> {
    try {
      await this.command(this.args('kill', ...(all ? ['--all'] : []), id, signal));
    } catch (err) {
      if (err instanceof RunError && /not running|container not found|does not exist|process already finished/i.test(err.stderr)) return;
      throw err;
    }
  }

  /**
   * Deletes the runtime's record (and cgroup) of a container. Idempotent.
   * `background`: nobody waits for it (the container exited), so it runs at
   * a lower CPU priority than the calls under way.
   */
  async delete(id: string, o: { background?: boolean } = {}): Promise<void> {
    try {
      await this.command(this.args('delete', '--force', id), o.background ? { niceness: BACKGROUND_NICENESS } : {});
    } catch (err) {
      if (err instanceof RunError && /not found|does not exist/i.test(err.stderr)) return;
      throw err;
    }
  }

  async state(id: string): Promise<{ status: RuntimeStatus; pid: number } | undefined> {
    try {
      const { stdout } = await this.command(this.args('state', id));
      return JSON.parse(stdout) as { status: RuntimeStatus; pid: number };
    } catch (err) {
      if (err instanceof RunError && /not found|does not exist/i.test(err.stderr)) return undefined;
      throw err;
    }
  }

  async update(id: string, resources: Record<string, unknown>): Promise<void> {
    await this.command(this.args('update', '--resources', '-', id), { input: JSON.stringify(resources) });
  }

  /** CRIU dump of a running container, left running; images in `imagePath`, CRIU's log in `workPath`. */
  async checkpoint(id: string, imagePath: string, workPath: string, timeoutMs: number): Promise<void> {
    await this.command(this.args('checkpoint', '--image-path', imagePath, '--work-path', workPath, '--leave-running', ...CRIU_OPTIONS, id), { timeoutMs });
  }

  /** Arguments of `runc exec` for a process in container `id`. */
  execArgs(id: string, cmd: string[], opts: { pidFile?: string; tty?: boolean } = {}): string[] {
    return this.args('exec', ...(opts.pidFile ? ['--pid-file', opts.pidFile] : []), ...(opts.tty ? ['--tty'] : []), id, ...cmd);
  }
}

/** True when process `pid` no longer exists or is a zombie. */
async function initGone(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}
