// StreamingTarget for the streaming server: exec, attach and port-forward.
// Each session is one helper process (berthd cannot setns or handle
// SOCK_SEQPACKET itself):
//  - exec: `runc exec`, with stdout and stderr on separate pipes. With a TTY,
//    `runc exec --tty` in the foreground gives the process a terminal of its
//    own and relays it to runc's stdio, which must itself be a terminal
//    (the detached form would hand the terminal's master over a unix socket
//    as SCM_RIGHTS, which node cannot receive): util-linux `script` provides
//    that outer terminal. Resizing sets the outer terminal's size from
//    outside (`stty -F`); the kernel signals SIGWINCH to runc, which copies
//    the size to the container's terminal, and the process gets its SIGWINCH;
//  - attach: output is followed from conmon's CRI log (conmon writes every
//    byte there), input goes to conmon's attach socket through socat;
//  - port-forward: `nsenter --net` into the pod's namespace running socat.
// Every exec writes runc's pid file of the process in its container bundle,
// so a session that ends early, and a berthd that died, leave no process.
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, watch } from 'node:fs';
import { readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Duplex, PassThrough, Writable } from 'node:stream';
import type { ExecSession, StreamingTarget, TerminalSize } from '../streaming/target.js';
import type { ContainerService } from './service.js';
import type { SandboxService } from '../sandbox/service.js';
import type { Logger } from '../log/logger.js';
import { failedPrecondition, invalidArgument } from '../util/errors.js';

const PID_PREFIX = 'stream-exec-';

function quote(a: string): string {
  return `'${a.replace(/'/g, `'\\''`)}'`;
}


/** Kills `pid` if it still is a process of container `id` (the pid may have been reused). */
async function killIfInContainer(pid: number, id: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  const cg = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
  if (!cg.includes(id)) return false;
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/** Input for a TTY session: the client's data as it comes, and its end as ^D (see exec). */
function terminalInput(pipe: Writable): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      pipe.write(chunk, () => callback());
    },
    final(callback) {
      pipe.write('\x04', () => callback());
    },
  });
}

/** The terminal a `script` session gave its child: the child's stdin, seen from the host. */
async function findPts(script: ChildProcess): Promise<string | undefined> {
  for (let i = 0; i < 100 && script.exitCode === null; i++) {
    const kids = await readFile(`/proc/${script.pid}/task/${script.pid}/children`, 'utf8').catch(() => '');
    for (const k of kids.split(/\s+/).filter(Boolean)) {
      const t = await readlink(`/proc/${k}/fd/0`).catch(() => '');
      if (t.startsWith('/dev/pts/')) return t;
    }
    await sleep(10);
  }
  return undefined;
}

export class ContainerStreaming implements StreamingTarget {
  constructor(
    private readonly containers: ContainerService,
    private readonly sandboxes: SandboxService,
  ) {}

  async exec(containerId: string, cmd: string[], opts: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): Promise<ExecSession> {
    if (cmd.length === 0) throw invalidArgument('cmd must not be empty');
    const { c, rt } = this.containers.running(containerId);
    const pidFile = join(this.containers.bundle(c.id), `${PID_PREFIX}${randomBytes(6).toString('hex')}.pid`);
    const args = rt.execArgs(c.id, cmd, { pidFile, tty: opts.tty });
    const child = opts.tty
      ? spawn('script', ['-qfec', [rt.exe(), ...args].map(quote).join(' '), '/dev/null'], {
        stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SHELL: '/bin/sh' },
      })
      // Its own process group, so that everything it started can be killed at once.
      : spawn(rt.exe(), args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, argv0: rt.path });
    child.stdin!.on('error', () => undefined);
    // Without a TTY, no stdin is an empty one. With a TTY, `script` turns
    // the end of its input into a write of the terminal's EOF character,
    // which with its input a pipe is NUL: the program would read a NUL and
    // the terminal echo "^@". So a TTY's input stays open until the process
    // ends, and a client's end of input becomes ^D, as at a real terminal.
    if (!opts.stdin && !opts.tty) child.stdin!.end();
    let done = false;
    const exited = new Promise<number>((resolve) => {
      child.once('error', () => resolve(255));
      child.once('close', (code, signal) => {
        done = true;
        void rm(pidFile, { force: true });
        resolve(code ?? (signal ? 128 + 9 : 255));
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });

    let pts: Promise<string | undefined> | undefined;
    let latest: TerminalSize | undefined;
    let applying = false;
    const apply = async (): Promise<void> => {
      if (applying) return;
      applying = true;
      try {
        const path = await (pts ??= findPts(child));
        while (path && latest && !done) {
          const s = latest;
          latest = undefined;
          await new Promise<void>((r) => {
            const p = spawn('stty', ['-F', path, 'rows', String(s.height), 'cols', String(s.width)], { stdio: 'ignore' });
            p.once('error', () => r());
            p.once('close', () => r());
          });
        }
      } finally {
        applying = false;
      }
    };
    const resize = (s: TerminalSize): void => {
      if (!opts.tty) return;
      latest = s;
      void apply();
    };
    const kill = (): void => {
      if (done) return;
      void readFile(pidFile, 'utf8').then((p) => killIfInContainer(Number(p), c.id), () => false).finally(() => {
        if (done) return;
        try {
          if (!opts.tty && child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        child.kill('SIGKILL');
      });
    };
    return {
      stdin: !opts.stdin ? undefined : opts.tty ? terminalInput(child.stdin!) : child.stdin ?? undefined,
      stdout: child.stdout ?? undefined,
      // With a TTY stderr arrives merged on the terminal, which is stdout.
      stderr: opts.tty ? undefined : child.stderr ?? undefined,
      resize,
      exited,
      kill,
    };
  }

  /** Kills exec processes a previous berthd left behind (their pid files survive in the bundles). */
  async killOrphans(log: Logger): Promise<void> {
    const root = dirname(this.containers.bundle('x'));
    const ids = await readdir(root).catch(() => [] as string[]);
    for (const id of ids) {
      const files = await readdir(join(root, id)).catch(() => [] as string[]);
      for (const f of files.filter((n) => n.startsWith(PID_PREFIX))) {
        const path = join(root, id, f);
        const pid = Number(await readFile(path, 'utf8').catch(() => '0'));
        if (await killIfInContainer(pid, id)) log.info({ container: id, pid }, 'killed an exec process left by a previous berthd');
        await rm(path, { force: true });
      }
    }
  }

  async attach(containerId: string, opts: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): Promise<ExecSession> {
    const { c } = this.containers.running(containerId);
    if (opts.stdin && !c.config.stdin) throw failedPrecondition(`container ${c.id} was not created with stdin open`);
    const bundle = this.containers.bundle(c.id);
    const logPath = this.containers.logFile(c);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let offset = (await stat(logPath).catch(() => ({ size: 0 }))).size;
    let partial = '';
    let reading = false;
    let closed = false;
    const pump = async (): Promise<void> => {
      if (reading || closed) return;
      reading = true;
      try {
        const size = (await stat(logPath).catch(() => ({ size: offset }))).size;
        if (size < offset) offset = 0;
        if (size > offset) {
          const chunks: Buffer[] = [];
          for await (const ch of createReadStream(logPath, { start: offset, end: size - 1 })) chunks.push(ch as Buffer);
          offset = size;
          partial += Buffer.concat(chunks).toString('utf8');
          const lines = partial.split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) {
            // CRI log line: TIMESTAMP STREAM TAG CONTENT; tag F ends a line, P continues it.
            const m = /^\S+ (stdout|stderr) ([FP]) ?(.*)$/.exec(line);
            if (!m) continue;
            const text = m[3]! + (m[2] === 'F' ? '\n' : '');
            if (m[1] === 'stderr' && !opts.tty) {
              if (opts.stderr) stderr.write(text);
            } else if (opts.stdout) stdout.write(text);
          }
        }
      } finally {
        reading = false;
      }
    };
    const watcher = watch(logPath, () => void pump());
    watcher.on('error', () => undefined);
    const poll = setInterval(() => void pump(), 200);
    let input: ChildProcess | undefined;
    if (opts.stdin) {
      input = spawn('socat', ['-u', 'STDIN', `UNIX-CONNECT:${join(bundle, 'attach')},type=5`], { stdio: ['pipe', 'ignore', 'ignore'] });
      input.stdin!.on('error', () => undefined);
      input.on('error', () => undefined);
    }
    let stopWaiting: () => void = () => undefined;
    let resolveExit: (code: number) => void = () => undefined;
    const exited = new Promise<number>((resolve) => {
      resolveExit = resolve;
      // The last lines reach the log before conmon records the exit.
      stopWaiting = this.containers.onExit(c, () => void pump().then(() => resolve(c.exitCode)));
    });
    const finish = (): void => {
      if (closed) return;
      closed = true;
      watcher.close();
      clearInterval(poll);
      stopWaiting();
      stdout.end();
      stderr.end();
      input?.kill();
    };
    void exited.then(finish);
    return {
      stdin: input?.stdin ?? undefined,
      stdout: opts.stdout ? stdout : undefined,
      stderr: opts.stderr && !opts.tty ? stderr : undefined,
      resize: (s) => void writeFile(join(bundle, 'ctl'), `1 ${s.height} ${s.width}\n`).catch(() => undefined),
      exited,
      // Detaching leaves the container running: the session just stops following it.
      kill: () => {
        finish();
        resolveExit(c.state === 'EXITED' ? c.exitCode : 0);
      },
    };
  }

  async portForward(podSandboxId: string, port: number): Promise<Duplex> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidArgument(`port ${port} is out of range`);
    const sb = this.sandboxes.resolve(podSandboxId);
    if (sb.state !== 'READY') throw failedPrecondition(`pod sandbox ${sb.id} is not ready`);
    // Each direction closes on its own: the pod's FIN reaches us at once
    // (shut-down passes it on instead of waiting for socat to exit), and
    // after ours the answer still comes whole (-t keeps socat running; the
    // session ends it otherwise).
    const socat = ['socat', '-b', '65536', '-t', '86400', 'STDIO,shut-down', `TCP:127.0.0.1:${port}`];
    const args = sb.config.namespaces.network === 'NODE' ? socat : ['nsenter', `--net=${this.sandboxes.paths(sb.id).netns}`, ...socat];
    const child = spawn(args[0]!, args.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.stdin!.on('error', () => undefined);
    const duplex = new Duplex({
      write(chunk, enc, cb) {
        child.stdin!.write(chunk, enc, cb);
      },
      final(cb) {
        child.stdin!.end(cb);
      },
      read() {
        child.stdout!.resume();
      },
      destroy(err, cb) {
        if (child.exitCode === null) child.kill('SIGKILL');
        cb(err);
      },
    });
    child.stdout!.on('data', (d: Buffer) => {
      if (!duplex.push(d)) child.stdout!.pause();
    });
    child.stdout!.once('end', () => duplex.push(null));
    child.once('close', (code) => {
      if (code !== 0 && code !== null && !duplex.destroyed) {
        const msg = stderr.trim().split('\n').pop()?.replace(/^.*?socat\[\d+\] E /, '') || `socat exited with ${code}`;
        duplex.destroy(new Error(msg));
      }
    });
    child.on('error', (e) => duplex.destroy(e));
    return duplex;
  }
}
