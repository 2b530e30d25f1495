import { spawn, spawnSync, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync, readFileSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { CriClient } from '../../src/cli/client.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// BERTH_TEST_BERTHD runs another build's berthd (a benchmark's before/after on one checkout).
export const BERTHD = process.env.BERTH_TEST_BERTHD || join(REPO_ROOT, 'dist/src/bin/berthd.js');
export const BERTH = join(REPO_ROOT, 'dist/src/bin/berth.js');

/** The Node.js flags berthd declares on its shebang line, so tests run it as installed. */
export function berthdNodeFlags(): string[] {
  const first = readFileSync(BERTHD, 'utf8').split('\n', 1)[0] ?? '';
  return /^#!\S*env -S node(.*)$/.exec(first)?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
}

export interface TestDaemon {
  dir: string;
  socket: string;
  endpoint: string;
  root: string;
  state: string;
  proc: ChildProcess;
  logs: () => string;
  /** The logs once a line matches `re` (pipes deliver them a little after the call returns). */
  logsMatching(re: RegExp, timeoutMs?: number): Promise<string>;
  client: CriClient;
  /** The daemon's own CNI bridge (deleted by cleanup). */
  bridge: string;
  /** SIGTERM and wait; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait (for crash tests); state is kept. */
  kill(): Promise<void>;
  /** Deletes the daemon's bridge and removes the temporary directory; call after stop. */
  cleanup(): void;
}

/** A short private directory: unix socket paths are limited to 108 bytes. */
export function tempDir(prefix = 'berth-t-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Unmounts whatever is still mounted under a test directory, deepest first
 * (berthd leaves the tmpfs it mounted on its state directory, as it would
 * leave /run), then removes the directory.
 */
export function removeTestDir(dir: string): void {
  const under = readFileSync('/proc/self/mounts', 'utf8').split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' ') ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of under) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A [network] section private to one daemon: its own CNI config directory
 * (berthd writes its default network there), bridge and /24 in 10.88–10.99
 * not routed on this host yet, so daemons running side by side never share
 * a bridge, a subnet or IPAM state, and nothing is written to /etc/cni.
 */
export function networkToml(dir: string, extra = ''): string {
  return `\n[network]\ncni_conf_dir = "${join(dir, 'cni-conf')}"\nbridge = "${testBridgeName()}"\nsubnet = "${freeSubnet()}"\n${extra}\n`;
}

/** A /24 in 10.88–10.99 not routed on this host yet. */
export function freeSubnet(): string {
  const routes = (() => {
    try {
      return execFileSync('ip', ['-o', '-4', 'route', 'show'], { encoding: 'utf8' });
    } catch {
      return '';
    }
  })();
  let subnet = '';
  for (let i = 0; i < 100 && (!subnet || routes.includes(subnet)); i++) subnet = `10.${88 + randomInt(12)}.${randomInt(256)}.0/24`;
  return subnet;
}

/** A bridge name only tests use (deleteBridge removes nothing else). */
export function testBridgeName(): string {
  return `bt${randomBytes(5).toString('hex')}`;
}

/** The bridge named in a daemon's config file. */
export function configuredBridge(cfgFile: string): string {
  const text = existsSync(cfgFile) ? readFileSync(cfgFile, 'utf8') : '';
  return /^bridge\s*=\s*"([^"]+)"/m.exec(text)?.[1] ?? '';
}

/** Deletes a test daemon's bridge (the bridge plugin leaves it behind by design). */
export function deleteBridge(bridge: string): void {
  if (!/^bt[0-9a-f]+$/.test(bridge)) return; // never a bridge the tests did not create
  try {
    execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  } catch {
    // never created (no pod ran) or already gone
  }
}

export interface StartOptions {
  /** Extra TOML appended to the generated config file. A [network] section replaces the private one. */
  toml?: string;
  args?: string[];
  /** daemon.log_level; tests log at debug, benchmarks at the production default. */
  logLevel?: string;
  /** Node.js flags placed before the script; default: those on berthd's shebang line. */
  nodeArgs?: string[];
  /** Reuse a directory (restart tests). */
  dir?: string;
  waitReady?: boolean;
  /** metrics.address (HOST:PORT); empty (the default here) turns the endpoint off. */
  metrics?: string;
  /**
   * cgroup.procs files (one per hierarchy, see helpers/cgroups.ts) berthd is
   * written into before it runs, as a service manager starts a service in
   * the service's cgroup.
   */
  cgroupProcs?: string[];
  /**
   * Run berthd in a session of its own, as a service manager runs a service,
   * rather than in the caller's. With the kernel's autogroup scheduling, a
   * process shares its session's CPU weight: a benchmark's berthd would
   * otherwise share one with the benchmark's client threads (kubelet's
   * stand-in), which no node does.
   */
  ownSession?: boolean;
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
      `[daemon]
root = "${root}"
state = "${state}"
log_level = "${opts.logLevel ?? 'debug'}"

[metrics]
address = "${opts.metrics ?? ''}"
${opts.toml ?? ''}
` +
        (opts.toml?.includes('[network]') ? '' : networkToml(dir)),
    );
  }
  const bridge = configuredBridge(cfg);
  const argv = [...(opts.nodeArgs ?? berthdNodeFlags()), BERTHD, '--config', cfg, ...(opts.args ?? [])];
  // The shell enters the cgroups, then becomes berthd (exec): same process, nothing run before.
  const enter = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
  const how: SpawnOptions = { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.ownSession ?? false };
  const proc = opts.cgroupProcs
    ? spawn('/bin/sh', ['-c', enter, 'sh', ...opts.cgroupProcs, '--', process.execPath, ...argv], how)
    : spawn(process.execPath, argv, how);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const endpoint = `unix://${socket}`;
  const client = new CriClient(endpoint, 30_000);
  const d: TestDaemon = {
    dir, socket, endpoint, root, state, proc, client, bridge,
    logs: () => out,
    async logsMatching(re, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return out;
    },
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
      deleteBridge(bridge);
      removeTestDir(dir);
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
