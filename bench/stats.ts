// Stats benchmark: N pods with one running container each, in berthd and in
// Debian's containerd (its CRI, catatonit pause image) in the same run; then
// ListContainerStats and ListPodSandboxStats called in turns. Reports p50/p95
// latency and the daemon's CPU time per call (containerd's includes its
// shims, which answer its per-task metrics requests). containerd's pods use
// the host network (its CRI needs a CNI network otherwise, and the bench
// creates none); berth's pods keep their own network namespace, whose
// counters berth reads for ListPodSandboxStats — more work on berth's side.
// Run: `node dist/bench/stats.js [pods=100] [rounds=30] [--no-containerd]`.
import { readdirSync, readFileSync, existsSync, rmdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { startRegistry } from '../test/helpers/registry.js';
import { pushBusybox, pushPause } from '../test/helpers/images.js';
import { startDaemon } from '../test/helpers/daemon.js';
import { startContainerd, type Containerd } from '../test/helpers/containerd.js';
import type { CriClient } from '../src/cli/client.js';
import { printTable, summarize, timeMs, cpuMs, fmt } from './lib.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const pods = Number(args[0] ?? 100);
const rounds = Number(args[1] ?? 30);
const withContainerd = !process.argv.includes('--no-containerd');
const CTD_CGROUP = `/berth-bench-ctd${randomBytes(3).toString('hex')}`;

/** PIDs of processes whose command line mentions `needle` (containerd's shims name its socket). */
function pidsWith(needle: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) out.push(Number(e));
    } catch {
      // exited
    }
  }
  return out;
}

function rmdirSafe(p: string): void {
  try {
    rmdirSync(p);
  } catch {
    // busy or gone
  }
}

const cpuOf = (pids: number[]): number => pids.reduce((s, p) => {
  try {
    return s + cpuMs(p);
  } catch {
    return s;
  }
}, 0);

async function fill(client: CriClient, image: string, tag: string, n: number, hostNetwork: boolean): Promise<void> {
  const one = async (i: number): Promise<void> => {
    const name = `${tag}-${i}`;
    // kubelet always gives a pod cgroup parent; containerd's pod stats need one.
    const linux = hostNetwork ? { cgroupParent: `${CTD_CGROUP}/${name}`, securityContext: { namespaceOptions: { network: 'NODE' } } } : {};
    const config = { metadata: { name, namespace: 'bench', uid: `uid-${name}`, attempt: 0 }, hostname: hostNetwork ? '' : name, linux };
    const { podSandboxId } = await client.call<{ podSandboxId: string }>('RunPodSandbox', { config }, 120_000);
    const { containerId } = await client.call<{ containerId: string }>('CreateContainer', {
      podSandboxId, sandboxConfig: config, config: { metadata: { name: 'sleeper' }, image: { image }, command: ['sleep', '100000'], linux: {} },
    }, 120_000);
    await client.call('StartContainer', { containerId }, 120_000);
  };
  for (let i = 0; i < n; i += 10) await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_x, j) => one(i + j)));
}

async function teardown(client: CriClient): Promise<void> {
  const list = await client.call<{ items: { id: string }[] }>('ListPodSandbox', {}, 60_000);
  for (let i = 0; i < list.items.length; i += 10) {
    await Promise.all(list.items.slice(i, i + 10).map(async (p) => {
      await client.call('StopPodSandbox', { podSandboxId: p.id }, 120_000).catch(() => undefined);
      await client.call('RemovePodSandbox', { podSandboxId: p.id }, 120_000).catch(() => undefined);
    }));
  }
}

const reg = await startRegistry();
const busybox = await pushBusybox(reg);
const pause = await pushPause(reg);
const berth = await startDaemon({ logLevel: 'info', toml: `\n[runtime]\ncgroup_parent = "/berth-bench${randomBytes(3).toString('hex')}"\n` });
let ctd: Containerd | undefined;
try {
  if (withContainerd) ctd = await startContainerd({ stateTmpfs: true, insecureRegistries: [reg.host], sandboxImage: pause.ref });
  await berth.client.call('PullImage', { image: { image: busybox.ref } }, 120_000);
  if (ctd) {
    await ctd.client.call('PullImage', { image: { image: busybox.ref } }, 120_000);
    await ctd.client.call('PullImage', { image: { image: pause.ref } }, 120_000);
  }
  console.log(`starting ${pods} pods with one running container each…`);
  let t = await timeMs(() => fill(berth.client, busybox.ref, 'b', pods, false));
  console.log(`  berth: ${(t / 1000).toFixed(1)} s`);
  if (ctd) {
    t = await timeMs(() => fill(ctd!.client, busybox.ref, 'c', pods, true));
    console.log(`  containerd: ${(t / 1000).toFixed(1)} s`);
  }

  const subjects: { name: string; client: CriClient; pids: () => number[] }[] = [
    ...(ctd ? [{ name: 'containerd', client: ctd.client, pids: () => [ctd!.proc.pid!, ...pidsWith(ctd!.socket)] }] : []),
    { name: 'berth', client: berth.client, pids: () => [berth.proc.pid!] },
  ];
  const methods = ['ListContainerStats', 'ListPodSandboxStats'] as const;
  for (const method of methods) {
    const lat = new Map<string, number[]>(subjects.map((s) => [s.name, []]));
    const cpu = new Map<string, number>(subjects.map((s) => [s.name, 0]));
    const counts = new Map<string, number>();
    const unimplemented = new Set<string>();
    for (const s of subjects) {
      // Warm-up; the second call also gives nano cores a previous sample.
      for (let i = 0; i < 3; i++) {
        try {
          const r = await s.client.call<{ stats: unknown[] }>(method, {}, 60_000);
          counts.set(s.name, r.stats.length);
        } catch (err) {
          unimplemented.add(s.name);
          console.log(`  ${s.name} ${method}: ${(err as Error).message}`);
          break;
        }
      }
    }
    const live = subjects.filter((s) => !unimplemented.has(s.name));
    for (let r = 0; r < rounds; r++) {
      for (const s of live) {
        const pids = s.pids();
        const c0 = cpuOf(pids);
        lat.get(s.name)!.push(await timeMs(() => s.client.call(method, {}, 60_000)));
        cpu.set(s.name, cpu.get(s.name)! + cpuOf(pids) - c0);
      }
    }
    printTable(`${method}, ${pods} pods x 1 running container, ${rounds} calls each (ratio vs first row)`,
      live.map((s) => [`${s.name} (${counts.get(s.name)} items)`, summarize(lat.get(s.name)!)]));
    for (const s of live) console.log(`  ${s.name}: daemon CPU per call ${fmt(cpu.get(s.name)! / rounds)} ms`);
  }
} finally {
  console.log('tearing down…');
  await teardown(berth.client).catch((e: unknown) => console.error('berth teardown', e));
  await berth.stop();
  berth.cleanup();
  if (ctd) await ctd.stop();
  for (const ctrl of readdirSync('/sys/fs/cgroup')) {
    const dir = `/sys/fs/cgroup/${ctrl}${CTD_CGROUP}`;
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirSafe(`${dir}/${e.name}`);
    rmdirSafe(dir);
  }
  await reg.stop();
}
