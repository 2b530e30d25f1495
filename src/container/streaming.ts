// StreamingTarget for the streaming server: exec, attach and port-forward.
// Each session is one helper process (berthd cannot setns or handle
// SOCK_SEQPACKET itself):
//  - exec: `runc exec`, under util-linux `script` when a TTY is wanted (it
//    gives the process a pseudo-terminal as its stdio);
//  - attach: output is followed from conmon's CRI log (conmon writes every
//    byte there), input goes to conmon's attach socket through socat;
//  - port-forward: `nsenter --net` into the pod's namespace running socat.
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import type { ExecSession, StreamingTarget, TerminalSize } from '../streaming/target.js';
import type { ContainerService } from './service.js';
import type { SandboxService } from '../sandbox/service.js';
import type { Metrics } from '../metrics/metrics.js';
import { failedPrecondition, invalidArgument } from '../util/errors.js';
import { writeFile } from 'node:fs/promises';

function quote(a: string): string {
  return `'${a.replace(/'/g, `'\\''`)}'`;
}

function session(child: ChildProcess, opts: { stdin: boolean; stdout: boolean; stderr: boolean }, resize: (s: TerminalSize) => void): ExecSession {
  const exited = new Promise<number>((resolve) => child.once('close', (code, signal) => resolve(code ?? (signal ? 137 : 255))));
  return {
    stdin: opts.stdin ? child.stdin ?? undefined : undefined,
    stdout: opts.stdout ? child.stdout ?? undefined : undefined,
    stderr: opts.stderr ? child.stderr ?? undefined : undefined,
    resize,
    exited,
    kill: () => void child.kill('SIGKILL'),
  };
}

export class ContainerStreaming implements StreamingTarget {
  constructor(
    private readonly containers: ContainerService,
    private readonly sandboxes: SandboxService,
    private readonly metrics?: Metrics,
  ) {}

  async exec(containerId: string, cmd: string[], opts: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): Promise<ExecSession> {
    if (cmd.length === 0) throw invalidArgument('cmd must not be empty');
    const t0 = performance.now();
    const { c, rt } = this.containers.running(containerId);
    const args = rt.execArgs(c.id, cmd);
    const stdio = ['pipe', 'pipe', 'pipe'] as const;
    const child = opts.tty
      ? spawn('script', ['-qfec', [rt.path, ...args].map(quote).join(' '), '/dev/null'], { stdio: [...stdio] })
      : spawn(rt.path, args, { stdio: [...stdio] });
    if (!opts.stdin) child.stdin!.end();
    // Latency to a live session: until the helper process runs.
    child.once('spawn', () => this.metrics?.execLatency.observe({ kind: 'exec' }, (performance.now() - t0) / 1000));
    // With a TTY both streams arrive merged on the terminal (stdout); resizing
    // goes through `stty` inside the session's terminal.
    const resize = (s: TerminalSize): void => {
      if (!opts.tty) return;
      const r = spawn(rt.path, rt.execArgs(c.id, ['stty', 'rows', String(s.height), 'cols', String(s.width)]), { stdio: 'ignore' });
      r.on('error', () => undefined);
    };
    return session(child, opts, resize);
  }

  async attach(containerId: string, opts: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): Promise<ExecSession> {
    const t0 = performance.now();
    const { c } = this.containers.running(containerId);
    if (opts.stdin && !c.config.stdin) throw failedPrecondition(`container ${c.id} was not created with stdin open`);
    const bundle = this.containers.bundle(c.id);
    const logPath = c.logPath || join(bundle, 'console.log');
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
            if (m[1] === 'stderr' && !opts.tty) { if (opts.stderr) stderr.write(text); } else if (opts.stdout) stdout.write(text);
          }
        }
      } finally {
        reading = false;
      }
    };
    const watcher = watch(logPath, () => void pump());
    const poll = setInterval(() => void pump(), 200);
    let input: ChildProcess | undefined;
    if (opts.stdin) {
      input = spawn('socat', ['-u', 'STDIN', `UNIX-CONNECT:${join(bundle, 'attach')},type=5`], { stdio: ['pipe', 'ignore', 'ignore'] });
    }
    let exitWatch: NodeJS.Timeout | undefined;
    const exited = new Promise<number>((resolve) => {
      exitWatch = setInterval(() => {
        if (c.state === 'EXITED') {
          void pump().then(() => resolve(c.exitCode));
        }
      }, 100);
    });
    const finish = (): void => {
      closed = true;
      watcher.close();
      clearInterval(poll);
      clearInterval(exitWatch);
      stdout.end();
      stderr.end();
      input?.kill();
    };
    void exited.then(finish);
    this.metrics?.execLatency.observe({ kind: 'attach' }, (performance.now() - t0) / 1000);
    return {
      stdin: input?.stdin ?? undefined,
      stdout: opts.stdout ? stdout : undefined,
      stderr: opts.stderr && !opts.tty ? stderr : undefined,
      resize: (s) => void writeFile(join(bundle, 'ctl'), `1 ${s.height} ${s.width}\n`).catch(() => undefined),
      exited,
      kill: finish,
    };
  }

  async portForward(podSandboxId: string, port: number): Promise<Duplex> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidArgument(`port ${port} is out of range`);
    const sb = this.sandboxes.resolve(podSandboxId);
    if (sb.state !== 'READY') throw failedPrecondition(`pod sandbox ${sb.id} is not ready`);
    const args = sb.config.namespaces.network === 'NODE'
      ? ['socat', '-', `TCP:127.0.0.1:${port}`]
      : ['nsenter', `--net=${this.sandboxes.paths(sb.id).netns}`, 'socat', '-', `TCP:127.0.0.1:${port}`];
    const child = spawn(args[0]!, args.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
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
        child.kill();
        cb(err);
      },
    });
    child.stdout!.on('data', (d: Buffer) => {
      if (!duplex.push(d)) child.stdout!.pause();
    });
    child.stdout!.on('end', () => duplex.push(null));
    child.on('error', (e) => duplex.destroy(e));
    return duplex;
  }
}
