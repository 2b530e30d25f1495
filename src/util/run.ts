import { execFile } from 'node:child_process';

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

/** Runs a helper without blocking the event loop; rejects with RunError on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const code = typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
        reject(new RunError(`${cmd} ${args.slice(0, 3).join(' ')}`, code, stderr || err.message, stdout));
      } else resolve({ stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
