// The OCI runtime (runc) commands berthd runs itself, and the conmon launch
// that creates a container. Creation goes through conmon so the container's
// parent is conmon, never berthd.
import { spawn } from 'node:child_process';
import { run, RunError } from '../util/run.js';

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
}

export type RuntimeStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export class OciRuntime {
  constructor(
    readonly name: string,
    readonly path: string,
    readonly root: string,
  ) {}

  private args(...rest: string[]): string[] {
    return ['--root', this.root, ...rest];
  }

  /**
   * Starts conmon, which runs `runtime create` and daemonizes. Resolves with
   * the container's PID once created; rejects with the runtime's error.
   */
  createWithConmon(o: ConmonOptions): Promise<number> {
    const args = [
      '--api-version', '1', '-c', o.id, '-u', o.id, '-n', o.name, '-r', this.path, '-b', o.bundle,
      '-p', `${o.bundle}/pidfile`, '-P', `${o.bundle}/conmon.pid`, '-l', `k8s-file:${o.logPath}`,
      '--exit-dir', o.exitDir, '--socket-dir-path', o.socketDir, '-0', o.persistDir,
      '--runtime-arg', '--root', '--runtime-arg', this.root, '--log-level', 'error', '--sync',
    ];
    if (o.stdin) args.push('-i');
    // Otherwise conmon closes the container's stdin when an attach session ends.
    if (o.stdin && !o.stdinOnce) args.push('--leave-stdin-open');
    if (o.tty) args.push('-t');
    if (o.logSizeMax && o.logSizeMax > 0) args.push('--log-size-max', String(o.logSizeMax));
    return new Promise((resolve, reject) => {
      // fd 3 is conmon's sync pipe: it reports {"data": pid} (or a negative value and a message).
      // --sync keeps conmon our direct child while berthd lives, so its exit
      // is reaped here instead of lingering as a zombie under PID 1; detached
      // (own session) so it outlives berthd.
      const child = spawn(o.conmon, args, {
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
        env: { ...process.env, _OCI_SYNCPIPE: '3' },
        cwd: o.bundle,
      });
      let sync = '';
      let stderr = '';
      let settled = false;
      const finish = (err: Error | undefined, pid?: number): void => {
        if (settled) return;
        settled = true;
        const pipe = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
        pipe.destroy();
        child.stderr!.destroy();
        child.unref();
        if (err) reject(err);
        else resolve(pid!);
      };
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const pipe = child.stdio[3] as NodeJS.ReadableStream;
      pipe.on('data', (d: Buffer) => {
        sync += d.toString();
        const nl = sync.indexOf('}');
        if (nl < 0) return;
        try {
          const msg = JSON.parse(sync.slice(0, nl + 1)) as { data: number; message?: string };
          if (msg.data > 0) finish(undefined, msg.data);
          else finish(new RunError(`${this.name} create`, msg.data, msg.message ?? 'container creation failed'));
        } catch (err) {
          finish(err as Error);
        }
      });
      pipe.on('end', () => finish(new RunError('conmon', child.exitCode, stderr || 'conmon closed its sync pipe without a result')));
      child.on('error', (err) => finish(err));
    });
  }

  async start(id: string): Promise<void> {
    await run(this.path, this.args('start', id));
  }

  /** Sends a signal; `all` signals every process of the container. Not running is not an error. */
  async kill(id: string, signal: string, all = false): Promise<void> {
    try {
      await run(this.path, this.args('kill', ...(all ? ['--all'] : []), id, signal));
    } catch (err) {
      if (err instanceof RunError && /not running|container not found|does not exist|process already finished/i.test(err.stderr)) return;
      throw err;
    }
  }

  /** Deletes the runtime's record (and cgroup) of a container. Idempotent. */
  async delete(id: string): Promise<void> {
    try {
      await run(this.path, this.args('delete', '--force', id));
    } catch (err) {
      if (err instanceof RunError && /not found|does not exist/i.test(err.stderr)) return;
      throw err;
    }
  }

  async state(id: string): Promise<{ status: RuntimeStatus; pid: number } | undefined> {
    try {
      const { stdout } = await run(this.path, this.args('state', id));
      return JSON.parse(stdout) as { status: RuntimeStatus; pid: number };
    } catch (err) {
      if (err instanceof RunError && /not found|does not exist/i.test(err.stderr)) return undefined;
      throw err;
    }
  }

  async update(id: string, resources: Record<string, unknown>): Promise<void> {
    await run(this.path, this.args('update', '--resources', '-', id), { input: JSON.stringify(resources) });
  }

  /** Arguments of `runc exec` for a process in container `id`. */
  execArgs(id: string, cmd: string[], opts: { pidFile?: string; tty?: boolean } = {}): string[] {
    return this.args('exec', ...(opts.pidFile ? ['--pid-file', opts.pidFile] : []), ...(opts.tty ? ['--tty'] : []), id, ...cmd);
  }
}
