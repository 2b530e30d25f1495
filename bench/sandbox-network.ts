// Sandbox start with and without networking: RunPodSandbox (and the whole
// Run→Stop→Remove cycle) of a pod on the CNI bridge network against a
// hostNetwork pod, for berthd and for Debian's containerd given the same CNI
// configuration (bridge + host-local + portmap, each daemon on its own bridge
// and subnet), interleaved in the same run.
// Run: `node dist/bench/sandbox-network.js [iterations]` (default 20).
import { readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry } from '../test/helpers/registry.js';
import { pushPause } from '../test/helpers/images.js';
import { startDaemon, tempDir, networkToml, deleteBridge } from '../test/helpers/daemon.js';
import { startContainerd } from '../test/helpers/containerd.js';
import type { CriClient } from '../src/cli/client.js';
import { printTable, summarize, timeMs, fmt } from './lib.js';

const iterations = Number(process.argv[2] ?? 20);

const reg = await startRegistry();
const pause = await pushPause(reg);
const berth = await startDaemon({ logLevel: 'info' });
// containerd gets berthd's own network list, moved to a bridge and subnet of its own.
const scratch = tempDir('bench-net-');
const ctdNet = networkToml(scratch);
const ctdBridge = /bridge = "([^"]+)"/.exec(ctdNet)![1]!;
const ctdSubnet = /subnet = "([^"]+)"/.exec(ctdNet)![1]!;
const ctdConf = tempDir('bench-cni-');
const ctd = await startContainerd({ stateTmpfs: true, insecureRegistries: [reg.host], sandboxImage: pause.ref, cniConfDir: ctdConf });

let seq = 0;
function podConfig(hostNetwork: boolean): Record<string, unknown> {
  const n = `bench-${process.pid}-${seq++}`;
  return {
    metadata: { name: n, namespace: 'bench', uid: `uid-${n}`, attempt: 0 },
    // kubelet sends no hostname for host-network pods; containerd refuses one.
    ...(hostNetwork ? {} : { hostname: n }),
    linux: { securityContext: { namespaceOptions: { network: hostNetwork ? 'NODE' : 'POD' } } },
  };
}

interface Cycle {
  run: number;
  total: number;
}

async function cycle(client: CriClient, hostNetwork: boolean): Promise<Cycle> {
  let id = '';
  const t0 = process.hrtime.bigint();
  const run = await timeMs(async () => {
    id = (await client.call<{ podSandboxId: string }>('RunPodSandbox', { config: podConfig(hostNetwork) }, 60_000)).podSandboxId;
  });
  await client.call('StopPodSandbox', { podSandboxId: id }, 60_000);
  await client.call('RemovePodSandbox', { podSandboxId: id }, 60_000);
  return { run, total: Number(process.hrtime.bigint() - t0) / 1e6 };
}

try {
  const berthConf = JSON.parse(readFileSync(join(berth.dir, 'cni-conf', '99-berth.conflist'), 'utf8'));
  const conf = structuredClone(berthConf);
  conf.name = 'bench';
  conf.plugins[0].bridge = ctdBridge;
  conf.plugins[0].ipam.ranges = [[{ subnet: ctdSubnet }]];
  conf.plugins[0].ipam.dataDir = join(ctd.dir, 'cni-ipam');
  mkdirSync(ctdConf, { recursive: true });
  writeFileSync(join(ctdConf, '10-bench.conflist'), JSON.stringify(conf, null, 2));
  await ctd.client.call('PullImage', { image: { image: pause.ref } }, 60_000);
  console.log(`CNI list (both daemons): ${conf.plugins.map((p: { type: string; ipam?: { type: string } }) => p.ipam ? `${p.type}+${p.ipam.type}` : p.type).join(', ')}, cniVersion ${conf.cniVersion}`);

  // Warm-up: first bridge creation, page cache, JIT.
  for (let i = 0; i < 3; i++) {
    await cycle(berth.client, false);
    await cycle(ctd.client, false);
  }
  const subjects = {
    'containerd, CNI bridge network': [] as Cycle[],
    'berth, CNI bridge network': [] as Cycle[],
    'containerd, hostNetwork': [] as Cycle[],
    'berth, hostNetwork': [] as Cycle[],
  };
  for (let i = 0; i < iterations; i++) {
    subjects['containerd, CNI bridge network'].push(await cycle(ctd.client, false));
    subjects['berth, CNI bridge network'].push(await cycle(berth.client, false));
    subjects['containerd, hostNetwork'].push(await cycle(ctd.client, true));
    subjects['berth, hostNetwork'].push(await cycle(berth.client, true));
  }
  const rows = (k: keyof Cycle): [string, ReturnType<typeof summarize>][] =>
    Object.entries(subjects).map(([name, c]) => [name, summarize(c.map((x) => x[k]))]);
  printTable(`RunPodSandbox, ${iterations} iterations (ratio vs containerd with CNI)`, rows('run'));
  printTable(`RunPodSandbox + StopPodSandbox + RemovePodSandbox, ${iterations} iterations`, rows('total'));
  const b = summarize(subjects['berth, CNI bridge network'].map((x) => x.run)).p50;
  const c = summarize(subjects['containerd, CNI bridge network'].map((x) => x.run)).p50;
  const h = summarize(subjects['berth, hostNetwork'].map((x) => x.run)).p50;
  console.log(`\nberth networked RunPodSandbox p50 ${fmt(b)} ms vs containerd ${fmt(c)} ms (target: below); CNI share of berth's start ≈ ${fmt(b - h)} ms`);
} finally {
  await ctd.stop();
  deleteBridge(ctdBridge);
  rmSync(scratch, { recursive: true, force: true });
  rmSync(ctdConf, { recursive: true, force: true });
  await berth.stop();
  berth.cleanup();
  await reg.stop();
}
