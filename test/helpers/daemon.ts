import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { CriClient } from '../../src/cli/client.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BERTHD = join(REPO_ROOT, 'dist/src/bin/berthd.js');
export const BERTH = join(REPO_ROOT, 'dist/src/bin/berth.js');

export interface TestDaemon {
  dir: string;
  socket: string;
  endpoint: string;
  root: string;
  state: string;
  proc: ChildProcess;
  logs: () => string;
  client: CriClient;
  /** SIGTERM and wait; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait (for crash tests); state is kept. */
  kill(): Promise<void>;
  /** Removes the temporary directory; call after stop. */
  cleanup(): void;
}

/** A short private directory: unix socket paths are limited to 108 bytes. */
export function tempDir(prefix = 'berth-t-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface StartOptions {
  /** Extra TOML appended to the generated config file. */
  toml?: string;
  args?: string[];
  /** Reuse a directory (restart tests). */
  dir?: string;
  waitReady?: boolean;
  /** metrics.address (HOST:PORT); empty (the default here) turns the endpoint off. */
  metrics?: string;
}

export async function startDaemon(opts: StartOptions = {}): Promise<TestDaemon> {
  const dir = opts.dir ?? tempDir();
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const socket = join(dir, 'state', 'berth.sock');
  const cfg = join(dir, 'berth.toml');
  if (!opts.dir || !existsSync(cfg)) {
    writeFileSync(
      cfg,
      `[daemon]\nroot = "${root}"\nstate = "${state}"\nlog_level = "debug"\n\n[metrics]\naddress = "${opts.metrics ?? ''}"\n${opts.toml ?? ''}\n`,
    );
  }
  const proc = spawn(process.execPath, [BERTHD, '--config', cfg, ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const endpoint = `unix://${socket}`;
  const client = new CriClient(endpoint, 30_000);
  const d: TestDaemon = {
    dir, socket, endpoint, root, state, proc, client,
    logs: () => out,
    async stop() {
      client.close();
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      client.close();
      if (proc.exitCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (opts.waitReady !== false) {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`berthd exited with ${proc.exitCode}:\n${out}`);
      if (existsSync(socket) && out.includes('berthd serving CRI')) break;
      await sleep(25);
    }
    if (!out.includes('berthd serving CRI')) {
      proc.kill('SIGKILL');
      throw new Error(`berthd did not become ready:\n${out}`);
    }
  }
  return d;
}

/** Runs the berth CLI and collects its output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BERTH, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
