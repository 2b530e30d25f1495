// Shared fixture for sandbox and container tests: one registry with the
// busybox image per test file, daemons with their own root, state and cgroup
// parent, and small helpers for the CRI calls the tests repeat.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startDaemon, type TestDaemon, type StartOptions } from './daemon.js';
import { startRegistry, type TestRegistry } from './registry.js';
import { pushBusybox } from './images.js';

export interface PodFixture {
  registry: TestRegistry;
  image: string;
  close(): Promise<void>;
}

export async function podFixture(): Promise<PodFixture> {
  const registry = await startRegistry();
  const img = await pushBusybox(registry);
  return { registry, image: img.ref, close: () => registry.stop() };
}

export interface PodDaemon extends TestDaemon {
  cgroupParent: string;
}

/** A daemon with a unique cgroup parent (`berth-<random>`), the image already pulled. */
export async function startPodDaemon(image: string, opts: StartOptions = {}): Promise<PodDaemon> {
  const cgroupParent = `/berth-t${randomBytes(4).toString('hex')}`;
  const toml = `\n[runtime]\ncgroup_parent = "${cgroupParent}"\n${opts.toml ?? ''}`;
  const d = await startDaemon({ ...opts, toml });
  if (opts.waitReady === false) {
    await waitServing(d).catch(async (err: unknown) => {
      await d.kill();
      throw err;
    });
  }
  await d.client.call('PullImage', { image: { image } }, 60_000);
  return Object.assign(d, { cgroupParent });
}

/** Waits until a daemon started without waiting (its log level may hide the ready line) answers Version. */
export async function waitServing(d: TestDaemon, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (d.proc.exitCode !== null) throw new Error(`berthd exited with ${d.proc.exitCode}:\n${d.logs()}`);
    try {
      await d.client.call('Version', {}, 1000);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

let seq = 0;
export function podConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const n = `pod${process.pid}-${seq++}`;
  return {
    metadata: { name: n, namespace: 'test', uid: `uid-${n}`, attempt: 0 },
    hostname: n,
    ...extra,
  };
}

export async function runPod(d: TestDaemon, extra: Record<string, unknown> = {}): Promise<{ id: string; config: Record<string, unknown> }> {
  const config = podConfig(extra);
  const r = await d.client.call<{ podSandboxId: string }>('RunPodSandbox', { config });
  return { id: r.podSandboxId, config };
}

export async function createContainer(
  d: TestDaemon, pod: { id: string; config: Record<string, unknown> }, image: string, extra: Record<string, unknown> = {},
): Promise<string> {
  const config = { metadata: { name: `c${seq++}` }, image: { image }, command: ['sleep', '1000'], ...extra };
  const r = await d.client.call<{ containerId: string }>('CreateContainer', { podSandboxId: pod.id, config, sandboxConfig: pod.config });
  return r.containerId;
}

export async function runContainer(
  d: TestDaemon, pod: { id: string; config: Record<string, unknown> }, image: string, extra: Record<string, unknown> = {},
): Promise<string> {
  const id = await createContainer(d, pod, image, extra);
  await d.client.call('StartContainer', { containerId: id });
  return id;
}

export async function execSync(d: TestDaemon, id: string, cmd: string[], timeout = 10): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const r = await d.client.call<{ stdout: Buffer; stderr: Buffer; exitCode: number }>('ExecSync', { containerId: id, cmd, timeout });
  return { stdout: Buffer.from(r.stdout).toString(), stderr: Buffer.from(r.stderr).toString(), exitCode: r.exitCode };
}

export interface StatusView {
  state: string;
  exitCode: number;
  reason: string;
  message: string;
  startedAt: string;
  finishedAt: string;
  createdAt: string;
  logPath: string;
  imageRef: string;
  imageId: string;
  mounts: { containerPath: string; hostPath: string; readonly: boolean; propagation: string }[];
  user: { linux: { uid: string; gid: string; supplementalGroups: string[] } };
  resources?: { linux: Record<string, unknown> };
}

export async function status(d: TestDaemon, id: string): Promise<StatusView> {
  return (await d.client.call<{ status: StatusView }>('ContainerStatus', { containerId: id })).status;
}

export async function waitState(d: TestDaemon, id: string, state: string, ms = 10_000): Promise<StatusView> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await status(d, id);
    if (s.state === state || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Monitors that outlived a killed berthd are reparented to PID 1, which on
 * this kind of host reaps them lazily; give it a moment so zombies are not
 * reported as leaks.
 */
export async function settleZombies(ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ps = execFileSync('ps', ['-eo', 'stat=,comm='], { encoding: 'utf8' });
    if (!ps.split('\n').some((l) => /^Z/.test(l.trim()) && /conmon|catatonit|runc/.test(l))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A new berthd on a killed one's directory (restart tests). */
export async function restartPodDaemon(killed: PodDaemon): Promise<PodDaemon> {
  return Object.assign(await startDaemon({ dir: killed.dir }), { cgroupParent: killed.cgroupParent });
}

/** Stops a daemon, removes its directory and asserts it left nothing on the host. */
export async function stopLeavingNothing(d: PodDaemon): Promise<void> {
  await d.stop();
  const left = leftovers(d);
  d.cleanup();
  await settleZombies();
  assert.deepEqual(left, []);
}

/** Everything a daemon could leave on the host under its directory and cgroup parent. */
export function leftovers(d: PodDaemon): string[] {
  const out: string[] = [];
  for (const l of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const mp = l.split(' ')[1];
    // The tmpfs berthd mounts on its state directory stays, like /run; whatever is under it must not.
    if (mp && mp.startsWith(d.dir) && mp !== d.state) out.push(`mount ${mp}`);
  }
  for (const ctrl of readdirSync('/sys/fs/cgroup')) {
    const p = `/sys/fs/cgroup/${ctrl}${d.cgroupParent}`;
    if (existsSync(p)) out.push(`cgroup ${p}`);
  }
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  for (const l of ps.split('\n')) if (l.includes(d.dir) && !l.includes('berthd.js')) out.push(`process ${l.trim()}`);
  out.push(...networkLeftovers(d));
  return out;
}

/** Pod veths still on the daemon's bridge, IPAM reservations and CNI cache entries. */
export function networkLeftovers(d: TestDaemon): string[] {
  const out: string[] = [];
  if (d.bridge) {
    let links = '';
    try {
      links = execFileSync('ip', ['-o', 'link', 'show', 'master', d.bridge], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      // no such bridge: nothing attached
    }
    for (const l of links.split('\n').filter(Boolean)) out.push(`veth ${l.split(':')[1]?.trim()}`);
  }
  const ipam = join(d.root, 'cni-ipam');
  for (const net of existsSync(ipam) ? readdirSync(ipam) : []) {
    for (const f of readdirSync(join(ipam, net))) if (f !== 'lock' && !f.startsWith('last_reserved_ip')) out.push(`ipam ${net}/${f}`);
  }
  const cache = join(d.root, 'cni-cache');
  for (const f of existsSync(cache) ? readdirSync(cache) : []) out.push(`cni-cache ${f}`);
  return out;
}

/**
 * Registers before/after hooks for a test file that shares one registry and
 * one daemon: the after hook removes every pod, stops the daemon and asserts
 * nothing of it is left on the host.
 */
export function podSuite(opts: StartOptions, ready: (fx: PodFixture, d: PodDaemon) => void): void {
  let fx: PodFixture | undefined;
  let d: PodDaemon | undefined;
  before(async () => {
    fx = await podFixture();
    d = await startPodDaemon(fx.image, opts);
    ready(fx, d);
  });
  after(async () => {
    if (d) {
      for (const p of (await d.client.call<{ items: { id: string }[] }>('ListPodSandbox', {})).items) {
        await d.client.call('RemovePodSandbox', { podSandboxId: p.id });
      }
      await d.stop();
      const left = leftovers(d);
      d.cleanup();
      assert.deepEqual(left, []);
    }
    await fx?.close();
  });
}
