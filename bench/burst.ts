// Pod bursts, berthd beside Debian's containerd and the runc floor in one run:
// what a node sees when a Deployment rolls out or a drained node's pods land
// on it.
//
// Up: PODS pods (default 30) asked for at the same moment, each as kubelet
// starts one — RunPodSandbox, CreateContainer, StartContainer, then an
// ExecSync readiness probe (`true`) — all concurrently. Per pod: the time
// from the burst's start until its probe answered; "all running" is the
// last of them. Down: all at once, each pod's StopContainer (10 s grace; the
// workload exits on SIGTERM), StopPodSandbox, RemovePodSandbox; per pod the
// time until its removal answered, and "all gone" once ListPodSandbox lists
// none of them. Each runtime's daemon CPU (own + reaped children) per burst
// is shown too.
// The floor: PODS × (`runc run -d` of a busybox bundle + `runc exec true`)
// at once, then PODS × `runc delete -f` at once: no CRI, no pod, no network,
// no monitor.
// Rounds alternate which runtime goes first. Targets (issue 18): berth's
// all-running and all-gone times ≤ 0.5x containerd's.
//
// Run: node dist/bench/burst.js [pods=30] [rounds=3] [--host-network]
//        [--no-containerd] [--cpu-prof=DIR]
// --cpu-prof=DIR writes a CPU profile of berthd per burst (up and down
// apart) into DIR. Pods use a CNI bridge network (see bench/runtimes.ts)
// unless --host-network.
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from '../test/helpers/daemon.js';
import { startNode, type NodeRuntime, type RuntimeName } from './runtimes.js';
import { CallLog, cpuTimes, fmt, ratio, row, runc, runcBundle, tail } from './lib.js';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'host-network': { type: 'boolean', default: false },
    'no-containerd': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
  },
});
const PODS = Number(positionals[0] ?? 30);
const ROUNDS = Number(positionals[1] ?? 3);

interface Burst {
  /** Per pod, ms from the burst's start. */
  up: number[];
  allUp: number;
  down: number[];
  allGone: number;
  cpuUpMs: number;
  cpuDownMs: number;
  failures: number;
}

const daemonCpu = (pid: number): number => {
  const t = cpuTimes(pid);
  return t ? t.self + t.children : 0;
};

async function floorBurst(bundle: string, root: string, round: number): Promise<Burst> {
  const ids = Array.from({ length: PODS }, (_x, i) => `bench-burst-${process.pid}-${round}-${i}`);
  const t0 = performance.now();
  const up = await Promise.all(ids.map(async (id) => {
    if (await runc(['--root', root, 'run', '-d', '--bundle', bundle, id]) !== 0) throw new Error(`runc run -d ${id} failed`);
    if (await runc(['--root', root, 'exec', id, '/bin/true']) !== 0) throw new Error(`runc exec ${id} failed`);
    return performance.now() - t0;
  }));
  const allUp = performance.now() - t0;
  await sleep(1000);
  const t1 = performance.now();
  const down = await Promise.all(ids.map(async (id) => {
    await runc(['--root', root, 'delete', '-f', id]);
    return performance.now() - t1;
  }));
  return { up, allUp, down, allGone: performance.now() - t1, cpuUpMs: NaN, cpuDownMs: NaN, failures: 0 };
}

async function burst(rt: NodeRuntime, node: Awaited<ReturnType<typeof startNode>>, round: number, calls: CallLog): Promise<Burst> {
  const call = <T>(method: string, req: object): Promise<T> => calls.time(method, () => rt.client.call<T>(method, req, 120_000));
  const names = Array.from({ length: PODS }, (_x, i) => `burst-${rt.name[0]}${round}-${i}`);
  const ids: string[] = [];
  let failures = 0;
  rt.toggleProfile?.();
  let cpu0 = daemonCpu(rt.pid);
  const t0 = performance.now();
  const up = await Promise.all(names.map(async (name, i) => {
    try {
      const config = node.podConfig(name);
      const { podSandboxId } = await call<{ podSandboxId: string }>('RunPodSandbox', { config });
      ids[i] = podSandboxId;
      const { containerId } = await call<{ containerId: string }>('CreateContainer', { podSandboxId, sandboxConfig: config, config: node.containerConfig('app') });
      await call('StartContainer', { containerId });
      const probe = await call<{ exitCode: number }>('ExecSync', { containerId, cmd: ['true'], timeout: 10 });
      if (probe.exitCode !== 0) throw new Error(`readiness probe exited ${probe.exitCode}`);
    } catch {
      failures++;
    }
    return performance.now() - t0;
  }));
  const allUp = performance.now() - t0;
  const cpuUpMs = daemonCpu(rt.pid) - cpu0;
  rt.toggleProfile?.();
  await sleep(2000);

  rt.toggleProfile?.();
  cpu0 = daemonCpu(rt.pid);
  const t1 = performance.now();
  const down = await Promise.all(ids.map(async (podSandboxId) => {
    try {
      const cs = await call<{ containers: { id: string }[] }>('ListContainers', { filter: { podSandboxId } });
      for (const c of cs.containers) await call('StopContainer', { containerId: c.id, timeout: 10 });
      await call('StopPodSandbox', { podSandboxId });
      await call('RemovePodSandbox', { podSandboxId });
    } catch {
      failures++;
    }
    return performance.now() - t1;
  }));
  const mine = new Set(ids);
  for (;;) {
    const left = (await rt.client.call<{ items: { id: string }[] }>('ListPodSandbox', {})).items.filter((p) => mine.has(p.id));
    if (left.length === 0 || performance.now() - t1 > 120_000) break;
    await sleep(20);
  }
  const allGone = performance.now() - t1;
  const cpuDownMs = daemonCpu(rt.pid) - cpu0;
  rt.toggleProfile?.();
  return { up, allUp, down, allGone, cpuUpMs, cpuDownMs, failures };
}

console.log(`burst: ${PODS} pods at once (RunPodSandbox + CreateContainer + StartContainer + ExecSync readiness), then torn down at once; ${ROUNDS} rounds`);
const node = await startNode({ hostNetwork: opt['host-network'], containerd: !opt['no-containerd'], cpuProfDir: opt['cpu-prof'] });
const work = tempDir('bench-burst-');
const runcRoot = join(work, `runc-${randomBytes(3).toString('hex')}`);
try {
  const bundle = runcBundle(work);
  const results = new Map<string, Burst[]>([['runc floor', []], ...node.runtimes.map((rt): [string, Burst[]] => [rt.name, []])]);
  const calls = new Map<RuntimeName, CallLog>(node.runtimes.map((rt) => [rt.name, new CallLog()]));
  // A first, unmeasured burst per runtime: page cache, JIT, the bridge's first veth.
  for (const rt of node.runtimes) await burst(rt, node, -1, new CallLog());
  await floorBurst(bundle, runcRoot, -1);
  for (let r = 0; r < ROUNDS; r++) {
    results.get('runc floor')!.push(await floorBurst(bundle, runcRoot, r));
    for (const rt of r % 2 === 0 ? node.runtimes : [...node.runtimes].reverse()) {
      const b = await burst(rt, node, r, calls.get(rt.name)!);
      results.get(rt.name)!.push(b);
      console.log(`  round ${r + 1} ${rt.name}: all running ${fmt(b.allUp)} ms, all gone ${fmt(b.allGone)} ms${b.failures ? `, ${b.failures} FAILED` : ''}`);
      await sleep(1000);
    }
  }

  const W = [30, 12, 9, 9, 12, 9, 9, 10, 10];
  console.log(`\n${PODS}-pod bursts, ${ROUNDS} rounds (ms; "all" = median over rounds, per-pod = all pods of all rounds)`);
  console.log(row(['', 'all running', 'pod p50', 'pod p99', 'all gone', 'pod p50', 'pod p99', 'CPU up', 'CPU down'], W));
  const med = (xs: number[]): number => tail(xs).p50;
  const summary = new Map<string, { up: number; gone: number }>();
  for (const [name, bs] of results) {
    if (bs.length === 0) continue;
    const up = tail(bs.flatMap((b) => b.up));
    const down = tail(bs.flatMap((b) => b.down));
    const s = { up: med(bs.map((b) => b.allUp)), gone: med(bs.map((b) => b.allGone)) };
    summary.set(name, s);
    const fails = bs.reduce((n, b) => n + b.failures, 0);
    console.log(row([`${name}${fails ? ` (${fails} failed)` : ''}`, fmt(s.up), fmt(up.p50), fmt(up.p99), fmt(s.gone), fmt(down.p50), fmt(down.p99),
      fmt(med(bs.map((b) => b.cpuUpMs))), fmt(med(bs.map((b) => b.cpuDownMs)))], W));
  }
  console.log('  CPU: the daemon\'s own and its reaped children\'s CPU ms per burst (runc, CNI plugins, exited monitors)');
  const b = summary.get('berth')!;
  const f = summary.get('runc floor')!;
  console.log(`  berth vs the runc floor: all running ${ratio(b.up, f.up)}, all gone ${ratio(b.gone, f.gone)}`);
  const c = summary.get('containerd');
  if (c) {
    console.log(`  berth vs containerd: all running ${ratio(b.up, c.up)} (target ≤ 0.5x: ${b.up <= 0.5 * c.up ? 'met' : 'MISSED'}), ` +
      `all gone ${ratio(b.gone, c.gone)} (target ≤ 0.5x: ${b.gone <= 0.5 * c.gone ? 'met' : 'MISSED'})`);
  }
  console.log('\nRPC wall time during the bursts (ms)');
  const names = node.runtimes.map((rt) => rt.name);
  const methods = [...new Set([...calls.values()].flatMap((l) => [...l.ms.keys()]))];
  const RW = [20, ...names.flatMap(() => [6, 8, 8])];
  console.log(row(['method', ...names.flatMap((n) => ['n', `${n.slice(0, 5)} p50`, 'p99'])], RW));
  for (const m of methods) {
    console.log(row([m, ...names.flatMap((n) => {
      const t = tail(calls.get(n)!.ms.get(m) ?? []);
      return [t.n, fmt(t.p50), fmt(t.p99)];
    })], RW));
  }
  for (const [n, l] of calls) {
    for (const [m, x] of l.failures) console.log(`  ${n} ${m} failed ×${x.count}: ${x.first.join(' | ')}`);
  }
} finally {
  console.log('\ntearing down…');
  await node.close();
  // Floor containers a failed burst left.
  const left = spawnSync('runc', ['--root', runcRoot, 'list', '-q'], { encoding: 'utf8' }).stdout ?? '';
  for (const id of left.split('\n').filter(Boolean)) spawnSync('runc', ['--root', runcRoot, 'delete', '-f', id]);
  rmSync(work, { recursive: true, force: true });
}
