// Running the berth CLI as a user would: as a child process with its own
// stdin and stdout, in a pipeline, or on a terminal (util-linux `script`
// gives it a pseudo-terminal whose size the test controls).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { BERTH } from './daemon.js';

export interface CliProcess {
  proc: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with stdout once it matches; rejects when the process exits first or after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  exited: Promise<number | null>;
}

function track(proc: ChildProcessWithoutNullStreams): CliProcess {
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const wake = (): void => waiters.forEach((w) => w());
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    wake();
  });
  proc.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    wake();
  });
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => {
    resolve(code);
    wake();
  }));
  let done = false;
  void exited.then(() => (done = true));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`timed out waiting for ${re}; stdout:\n${out}\nstderr:\n${err}`)), ms);
        const check = (): void => {
          if (re.test(out)) finish();
          else if (done) finish(new Error(`exited before ${re}; stdout:\n${out}\nstderr:\n${err}`));
        };
        const finish = (e?: Error): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (e) reject(e);
          else resolve(out);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** `berth -r <endpoint> args…`, stdin a pipe the test writes to. */
export function startCli(endpoint: string, args: string[]): CliProcess {
  return track(spawn(process.execPath, [BERTH, '-r', endpoint, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
}

/** Runs to the end with `input` on stdin. */
export async function cli(endpoint: string, args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = startCli(endpoint, args);
  c.proc.stdin.end(input);
  const code = await c.exited;
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

export const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** A bash pipeline around the CLI, e.g. `BERTH logs ID | head -n 1`; `BERTH` stands for the command. */
export async function pipeline(endpoint: string, script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const berth = `${shellQuote(process.execPath)} ${shellQuote(BERTH)} -r ${shellQuote(endpoint)}`;
  const c = track(spawn('bash', ['-c', script.replace(/\bBERTH\b/g, berth)], { stdio: ['pipe', 'pipe', 'pipe'] }));
  c.proc.stdin.end();
  const code = await c.exited;
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/**
 * The CLI on a pseudo-terminal of `cols` x `rows`. `before` runs in the
 * terminal's shell first (in the background it can resize the terminal,
 * which the kernel signals to the CLI as SIGWINCH). What the test writes
 * is typed on the terminal; `stdout()` is the screen's byte stream.
 */
export function cliOnTerminal(endpoint: string, args: string[], o: { cols: number; rows: number; before?: string }): CliProcess {
  const cmd = [process.execPath, BERTH, '-r', endpoint, ...args].map(shellQuote).join(' ');
  const line = `stty cols ${o.cols} rows ${o.rows}; ${o.before ?? ''} exec ${cmd}`;
  return track(spawn('script', ['-qfec', line, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] }));
}
