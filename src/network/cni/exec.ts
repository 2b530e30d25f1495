// Runs one plugin binary: config on stdin, CNI_* in the environment, result
// or error object on stdout. Never blocks the event loop, and a plugin that
// hangs is killed after the timeout.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { CniErrorBody } from './types.js';
import type { CniCommand } from './stdin.js';

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
export function execPlugin(r: ExecRequest): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(r.path, [], { env: { ...process.env, ...r.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, r.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined); // a plugin may exit without reading stdin
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new CniPluginError(r.type, r.command, undefined, e.message));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString().trim();
      const stderr = Buffer.concat(err).toString().trim();
      if (timedOut) {
        reject(new CniPluginError(r.type, r.command, undefined, `still running after ${r.timeoutMs / 1000}s; killed`, true));
        return;
      }
      let parsed: unknown;
      try {
        parsed = stdout ? JSON.parse(stdout) : {};
      } catch {
        parsed = undefined;
      }
      if (code !== 0) {
        const body = parsed as CniErrorBody | undefined;
        const detail = body && (body.msg || body.code)
          ? describeError(body)
          : `${signal ? `killed by ${signal}` : `exit ${code}`}${stderr || stdout ? `: ${stderr || stdout}` : ''}`;
        reject(new CniPluginError(r.type, r.command, body?.code, detail));
        return;
      }
      if (parsed === undefined || typeof parsed !== 'object' || parsed === null) {
        reject(new CniPluginError(r.type, r.command, undefined, `printed something that is not a JSON object: ${stdout.slice(0, 200)}`));
        return;
      }
      resolve(parsed as Record<string, unknown>);
    });
    child.stdin.end(JSON.stringify(r.stdin));
  });
}
