// Pod and container lifecycle benchmark, side by side in one run:
//  - the floor: `runc run -d` of a busybox `sleep` bundle (no CRI, no conmon),
//    then `runc delete -f`;
//  - berthd: RunPodSandbox + CreateContainer + StartContainer, then
//    StopPodSandbox + RemovePodSandbox;
//  - containerd (Debian's package, CRI plugin) doing the same on its own root
//    and socket, with a catatonit pause image from the local registry.
// Pods use the host network so neither runtime runs CNI here (the network
// benchmark covers that). Sequential rounds first (floor, berth, containerd
// in turn within each round), then rounds of 10 in parallel, then berthd's
// RSS with 50 pods running.
// Run: `node dist/bench/pod-lifecycle.js [rounds] [pods-for-rss]`.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startRegistry } from '../test/helpers/registry.js';
import { pushBusybox, pushPause } from '../test/helpers/images.js';
import { startDaemon, tempDir } from '../test/helpers/daemon.js';
import { startContainerd } from '../test/helpers/containerd.js';
import type { CriClient } from '../src/cli/client.js';
import { printTable, summarize, timeMs, fmt, rssMiB, rssParts, runcBundle, type Summary } from './lib.js';

const rounds = Number(process.argv[2] ?? 20);
const rssPods = Number(process.argv[3] ?? 50);
const PARALLEL = 10;

let seq = 0;
function podConfig(): Record<string, unknown> {
  const n = `bench-${process.pid}-${seq++}`;
  return {
    metadata: { name: n, namespace: 'bench', uid: `uid-${n}`, attempt: 0 },
    linux: { securityContext: { namespaceOptions: { network: 'NODE' } } },
  };
}

interface Times { runp: number; create: number; start: number; total: number }

async function podUp(client: CriClient, image: string): Promise<{ pod: string; t: Times }> {
  const config = podConfig();
  const t0 = performance.now();
  const pod = (await client.call<{ podSandboxId: string }>('RunPodSandbox', { config })).podSandboxId;
  const t1 = performance.now();
  const cfg = { metadata: { name: 'sleep' }, image: { image }, command: ['sleep', '3600'] };
  const id = (await client.call<{ containerId: string }>('CreateContainer', { podSandboxId: pod, config: cfg, sandboxConfig: config })).containerId;
  const t2 = performance.now();
  await client.call('StartContainer', { containerId: id });
  const t3 = performance.now();
  return { pod, t: { runp: t1 - t0, create: t2 - t1, start: t3 - t2, total: t3 - t0 } };
}

async function podDown(client: CriClient, pod: string): Promise<number> {
  return timeMs(async () => {
    await client.call('StopPodSandbox', { podSandboxId: pod });
    await client.call('RemovePodSandbox', { podSandboxId: pod });
  });
}

/** One `runc run -d` of the floor bundle and its `runc delete -f`, timed. */
function runcFloorOnce(bundle: string, root: string): { up: number; down: number } {
  const id = `bench-floor-${randomBytes(4).toString('hex')}`;
  let t0 = performance.now();
  // No pipes: a detached container inherits runc's stdio and would hold them open.
  const r = spawnSync('runc', ['--root', root, 'run', '-d', '--bundle', bundle, id], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`runc run -d exited with ${r.status}`);
  const up = performance.now() - t0;
  t0 = performance.now();
  spawnSync('runc', ['--root', root, 'delete', '-f', id]);
  return { up, down: performance.now() - t0 };
}

const reg = await startRegistry();
const work = tempDir('bench-pod-');
const cgroupParent = `/berth-b${randomBytes(4).toString('hex')}`;
const berth = await startDaemon({ logLevel: 'info', toml: `[runtime]\ncgroup_parent = "${cgroupParent}"\n` });
let ctd: Awaited<ReturnType<typeof startContainerd>> | undefined;
try {
  const busybox = await pushBusybox(reg);
  const pause = await pushPause(reg);
  await berth.client.call('PullImage', { image: { image: busybox.ref } }, 120_000);
  try {
    ctd = await startContainerd({ stateTmpfs: true, insecureRegistries: [reg.host], sandboxImage: pause.ref });
    await ctd.client.call('PullImage', { image: { image: busybox.ref } }, 120_000);
    await ctd.client.call('PullImage', { image: { image: pause.ref } }, 120_000);
  } catch (err) {
    console.log(`containerd could not start, its rows are left out: ${(err as Error).message}`);
    ctd = undefined;
  }

  // Warm up both paths once so first-call costs (page cache, JIT) are not measured.
  for (const c of [berth.client, ctd?.client]) if (c) await podDown(c, (await podUp(c, busybox.ref)).pod);

  // Each round runs the floor, berth and containerd one after the other, so
  // all three see the same machine (another runtime's teardown still
  // settling, the VM's slow and quiet moments).
  const floorBundle = runcBundle(work);
  const floor = { up: [] as number[], down: [] as number[] };
  const seqT: Record<string, { t: Times[]; down: number[] }> = { berth: { t: [], down: [] }, containerd: { t: [], down: [] } };
  for (let i = 0; i < rounds; i++) {
    const f = runcFloorOnce(floorBundle, join(work, 'runc-root'));
    floor.up.push(f.up);
    floor.down.push(f.down);
    for (const [name, c] of [['berth', berth.client], ['containerd', ctd?.client]] as const) {
      if (!c) continue;
      const { pod, t } = await podUp(c, busybox.ref);
      seqT[name]!.t.push(t);
      seqT[name]!.down.push(await podDown(c, pod));
    }
  }
  const pick = (name: string, k: keyof Times): Summary => summarize(seqT[name]!.t.map((x) => x[k]));
  printTable(`sequential, ${rounds} rounds: create+start of one container (ratio vs runc floor)`, [
    ['runc run -d (floor)', summarize(floor.up)],
    ['berth Create+StartContainer', summarize(seqT.berth!.t.map((x) => x.create + x.start))],
    ...(ctd ? [['containerd Create+StartContainer', summarize(seqT.containerd!.t.map((x) => x.create + x.start))] as [string, Summary]] : []),
  ]);
  const rows = (k: keyof Times, label: string): [string, Summary][] =>
    [...(ctd ? [[`containerd ${label}`, pick('containerd', k)] as [string, Summary]] : []), [`berth ${label}`, pick('berth', k)]];
  printTable(`sequential, ${rounds} rounds (ratio vs containerd)`, [
    ...rows('runp', 'RunPodSandbox'), ...rows('create', 'CreateContainer'), ...rows('start', 'StartContainer'), ...rows('total', 'pod+container up'),
    ...(ctd ? [['containerd Stop+RemovePodSandbox', summarize(seqT.containerd!.down)] as [string, Summary]] : []),
    ['berth Stop+RemovePodSandbox', summarize(seqT.berth!.down)],
    ['runc delete -f (floor)', summarize(floor.down)],
  ]);
  const floorP50 = summarize(floor.up).p50;
  const berthCs = summarize(seqT.berth!.t.map((x) => x.create + x.start)).p50;
  console.log(`\nberth create+start p50 ${fmt(berthCs)} ms vs runc floor ${fmt(floorP50)} ms: +${fmt(berthCs - floorP50)} ms (target within 15 ms)`);

  // Parallel: rounds of PARALLEL pods brought up at once, then torn down at once.
  const par: Record<string, { up: number[]; down: number[]; wall: number[] }> = {};
  const parRounds = Math.max(1, Math.floor(rounds / 4));
  for (const [name, c] of [['berth', berth.client], ['containerd', ctd?.client]] as const) {
    if (!c) continue;
    const r = (par[name] = { up: [] as number[], down: [] as number[], wall: [] as number[] });
    for (let i = 0; i < parRounds; i++) {
      const t0 = performance.now();
      const ups = await Promise.all(Array.from({ length: PARALLEL }, () => podUp(c, busybox.ref)));
      r.wall.push(performance.now() - t0);
      r.up.push(...ups.map((u) => u.t.total));
      r.down.push(...(await Promise.all(ups.map((u) => podDown(c, u.pod)))));
    }
  }
  printTable(`${PARALLEL} in parallel, ${parRounds} rounds: per-pod latency (ratio vs containerd)`, [
    ...(par.containerd ? [['containerd pod+container up', summarize(par.containerd.up)] as [string, Summary]] : []),
    ['berth pod+container up', summarize(par.berth!.up)],
    ...(par.containerd ? [['containerd teardown', summarize(par.containerd.down)] as [string, Summary]] : []),
    ['berth teardown', summarize(par.berth!.down)],
    ...(par.containerd ? [[`containerd wall for ${PARALLEL} pods`, summarize(par.containerd.wall)] as [string, Summary]] : []),
    [`berth wall for ${PARALLEL} pods`, summarize(par.berth!.wall)],
  ]);

  // Memory: berthd's RSS idle and with rssPods pods running.
  const idle = rssMiB(berth.proc.pid!);
  const pods: string[] = [];
  for (let i = 0; i < rssPods; i++) pods.push((await podUp(berth.client, busybox.ref)).pod);
  await new Promise((r) => setTimeout(r, 2000));
  const loaded = rssMiB(berth.proc.pid!);
  const parts = rssParts(berth.proc.pid!);
  console.log(`\nberthd RSS: ${idle.toFixed(1)} MiB idle, ${loaded.toFixed(1)} MiB with ${rssPods} pods running (target < 80 MiB)` +
    ` — anonymous ${parts.anon.toFixed(1)}, file-backed ${parts.file.toFixed(1)} MiB`);
  for (const p of pods) await podDown(berth.client, p);
} finally {
  await ctd?.stop();
  for (const p of (await berth.client.call<{ items: { id: string }[] }>('ListPodSandbox', {}).catch(() => ({ items: [] }))).items) {
    await berth.client.call('RemovePodSandbox', { podSandboxId: p.id }).catch(() => undefined);
  }
  await berth.stop();
  berth.cleanup();
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
}
