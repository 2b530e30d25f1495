import { collectProcess, signalName } from './spawn.js';

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** A failed helper process; `stderr` is what it said, for error messages. */
export class RunError extends Error {
  constructor(
    readonly cmd: string,
    readonly code: number | null,
    readonly stderr: string,
    readonly stdout = '',
  ) {
    super(`${cmd} failed (${code === null ? 'killed' : `exit ${code}`}): ${stderr.trim() || stdout.trim()}`);
    this.name = 'RunError';
  }
}

export interface RunOptions {
  timeoutMs?: number;
  input?: string;
  niceness?: number;
  /** The name the helper is shown and reported by, when the file run is not it (see SpawnOptions.argv0). */
  argv0?: string;
}

/**
 * Runs a helper (started without forking the daemon, see util/spawn.ts);
 * rejects with RunError when it cannot start, exits non-zero, is killed, runs
 * past the timeout (default 60 s) or prints more than 16 MiB. `niceness`
 * lowers its CPU priority (see CollectOptions).
 */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const what = `${opts.argv0 ?? cmd} ${args.slice(0, 3).join(' ')}`;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let r;
  try {
    r = await collectProcess(cmd, args, { input: opts.input, timeoutMs, niceness: opts.niceness, argv0: opts.argv0 });
  } catch (err) {
    throw new RunError(what, null, (err as Error).message);
  }
  const stdout = r.stdout.toString();
  const stderr = r.stderr.toString();
  if (r.timedOut) throw new RunError(what, null, `still running after ${timeoutMs / 1000}s; killed`, stdout);
  if (r.overflowed) throw new RunError(what, null, 'printed more than 16 MiB; killed', stdout);
  if (r.code !== 0) throw new RunError(what, r.code, stderr || (r.signal !== null ? `killed by ${signalName(r.signal)}` : ''), stdout);
  return { stdout, stderr };
}
