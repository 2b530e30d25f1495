// Runs one plugin binary: config on stdin, CNI_* in the environment, result
// or error object on stdout. Started without forking the daemon
// (util/spawn.ts), and a plugin that hangs is killed after the timeout.
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { CniErrorBody } from './types.js';
import type { CniCommand } from './stdin.js';
import { collectProcess, signalName, type Outcome } from '../../util/spawn.js';

export class CniPluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: CniCommand,
    /** The plugin's error code (CNI spec table), or undefined when it printed none. */
    readonly code: number | undefined,
    readonly detail: string,
    readonly timedOut = false,
  ) {
    super(`CNI plugin ${plugin} ${command} failed: ${detail}`);
    this.name = 'CniPluginError';
  }
}

/** First executable `type` in the plugin directories, in order. */
export function findPlugin(type: string, binDirs: string[]): string | undefined {
  for (const dir of binDirs) {
    const p = join(dir, type);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function describeError(body: CniErrorBody): string {
  const msg = body.msg ?? 'no message';
  return body.details ? `${msg}: ${body.details}` : msg;
}

export interface ExecRequest {
  type: string;
  path: string;
  command: CniCommand;
  env: Record<string, string>;
  stdin: unknown;
  timeoutMs: number;
}

/** Resolves with the parsed stdout (empty object when the plugin printed nothing, as DEL may). */
export async function execPlugin(r: ExecRequest): Promise<Record<string, unknown>> {
  let res: Outcome;
  try {
    res = await collectProcess(r.path, [], {
      env: { ...process.env, ...r.env }, input: JSON.stringify(r.stdin), timeoutMs: r.timeoutMs, killSignal: 'SIGKILL',
    });
  } catch (e) {
    throw new CniPluginError(r.type, r.command, undefined, (e as Error).message);
  }
  const stdout = res.stdout.toString().trim();
  const stderr = res.stderr.toString().trim();
  if (res.timedOut) throw new CniPluginError(r.type, r.command, undefined, `still running after ${r.timeoutMs / 1000}s; killed`, true);
  let parsed: unknown;
  try {
    parsed = stdout ? JSON.parse(stdout) : {};
  } catch {
    parsed = undefined;
  }
  if (res.code !== 0) {
    const body = parsed as CniErrorBody | undefined;
    const detail = body && (body.msg || body.code)
      ? describeError(body)
      : `${res.signal !== null ? `killed by ${signalName(res.signal)}` : `exit ${res.code}`}${stderr || stdout ? `: ${stderr || stdout}` : ''}`;
    throw new CniPluginError(r.type, r.command, body?.code, detail);
  }
  if (parsed === undefined || typeof parsed !== 'object' || parsed === null) {
    throw new CniPluginError(r.type, r.command, undefined, `printed something that is not a JSON object: ${stdout.slice(0, 200)}`);
  }
  return parsed as Record<string, unknown>;
}
