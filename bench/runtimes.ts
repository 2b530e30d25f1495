// Berth and Debian's containerd side by side for the node-scale benchmarks
// (node-scale.ts, burst.ts): one local registry with the busybox image (and
// the catatonit pause image containerd needs), the same pod network for both
// (berthd's default list — bridge + host-local + portmap — each daemon on a
// bridge and /24 of its own) or the host network for both, pods under a
// cgroup tree of the benchmark's own (kubelet always names a pod cgroup), and
// a close() that removes everything either runtime made — pods, daemons,
// bridges, state directories, cgroups, the registry — also when the
// benchmark fails or is interrupted (SIGINT/SIGTERM). Each daemon runs in a
// session of its own, as a service does: under the kernel's autogroup
// scheduling a session shares one CPU weight, and one shared with the
// benchmark's client threads slowed whichever daemon was loaded.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort, startRegistry, type TestRegistry } from '../test/helpers/registry.js';
import { pushBusybox, pushPause } from '../test/helpers/images.js';
import { berthdNodeFlags, deleteBridge, networkToml, startDaemon, tempDir, type TestDaemon } from '../test/helpers/daemon.js';
import { startContainerd, type Containerd } from '../test/helpers/containerd.js';
import type { CriClient } from '../src/cli/client.js';
import type { ProcInfo } from './lib.js';

export type RuntimeName = 'berth' | 'containerd';

/** A per-pod or per-container process a runtime keeps on the node. */
export interface Helper {
  pid: number;
  kind: 'conmon' | 'infra' | 'shim' | 'pause';
}

export interface NodeRuntime {
  name: RuntimeName;
  client: CriClient;
  /** The CRI socket, for clients of their own (unix://…). */
  endpoint: string;
  /** The daemon's PID. */
  pid: number;
  /** The runtime's per-pod and per-container processes in a process table. */
  helpers(table: ProcInfo[]): Helper[];
  /** Appended to berthd's event-loop delay file once a second (berth only). */
  loopFile?: string;
  /** berthd's metrics endpoint, HOST:PORT (berth only). */
  metrics?: string;
  /** Starts, then stops and writes, a CPU profile of berthd (berth with cpuProfDir only). */
  toggleProfile?: () => void;
}

export interface PodRef {
  id: string;
  name: string;
  config: Record<string, unknown>;
  containers: { id: string; name: string; attempt: number }[];
}

export interface NodeOptions {
  hostNetwork: boolean;
  /** Start containerd too (it is skipped, with a message, when it cannot start). */
  containerd: boolean;
  /** Where berthd writes the CPU profiles toggleProfile asks for (bench/probe/berthd-probe.ts). */
  cpuProfDir?: string;
  /** Record berthd's event-loop delay (bench/probe/berthd-probe.ts). */
  loopProbe?: boolean;
  /** Extra berthd TOML. */
  berthToml?: string;
}

export interface BenchNode {
  image: string;
  network: 'CNI bridge' | 'host network';
  runtimes: NodeRuntime[];
  berth: TestDaemon;
  containerd?: Containerd;
  registry: TestRegistry;
  podConfig(name: string): Record<string, unknown>;
  containerConfig(name: string, attempt?: number): Record<string, unknown>;
  /** Starts `count` pods (one container each; the first `multi` with three) `concurrency` at a time. */
  fill(rt: NodeRuntime, prefix: string, count: number, multi: number, concurrency?: number): Promise<PodRef[]>;
  /** Stops and removes every pod of the runtime, `concurrency` at a time. */
  removeAllPods(rt: NodeRuntime, concurrency?: number): Promise<void>;
  close(): Promise<void>;
}

// sh as the container's init ignores nothing it traps: StopContainer's
// SIGTERM ends it at once, as a well-behaved workload's would, so stops
// measure the runtimes and not a grace period. One process, no polling.
const WORKLOAD = ['sh', '-c', 'trap "exit 0" TERM; sleep 2147483647 & wait'];

const PROBE = fileURLToPath(new URL('./probe/berthd-probe.js', import.meta.url));

/** Removes a cgroup directory and everything under it in every hierarchy (deepest first). */
export function removeCgroupTree(path: string): void {
  const rm = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      // still populated: a process of a runtime that could not be stopped
    }
  };
  for (const ctrl of readdirSync('/sys/fs/cgroup')) rm(join('/sys/fs/cgroup', ctrl, path));
}

/**
 * What a benchmark made, undone in reverse order by run(): also on
 * SIGINT/SIGTERM (then the process exits 130), and never twice. A step that
 * fails is reported and the rest still run.
 */
export class Teardown {
  private readonly steps: (() => Promise<unknown> | unknown)[] = [];
  private done = false;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    console.error(`\n${sig}: cleaning up…`);
    void this.run().finally(() => process.exit(130));
  };

  constructor() {
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  add(step: () => Promise<unknown> | unknown): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    if (this.done) return;
    this.done = true;
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch (err) {
        console.error(`cleanup: ${(err as Error).message}`);
      }
    }
  }
}

/** berthd's default network list moved to a bridge, subnet and IPAM directory of containerd's own. */
export function containerdCniConf(berthCniDir: string, confDir: string, ipamDir: string): { bridge: string; plugins: string } {
  const scratch = networkToml(confDir);
  const bridge = /bridge = "([^"]+)"/.exec(scratch)![1]!;
  const subnet = /subnet = "([^"]+)"/.exec(scratch)![1]!;
  const conf = JSON.parse(readFileSync(join(berthCniDir, '99-berth.conflist'), 'utf8'));
  conf.name = 'bench';
  conf.plugins[0].bridge = bridge;
  conf.plugins[0].ipam.ranges = [[{ subnet }]];
  conf.plugins[0].ipam.dataDir = ipamDir;
  mkdirSync(confDir, { recursive: true });
  writeFileSync(join(confDir, '10-bench.conflist'), JSON.stringify(conf, null, 2));
  const plugins = conf.plugins.map((p: { type: string; ipam?: { type: string } }) => (p.ipam ? `${p.type}+${p.ipam.type}` : p.type)).join(', ');
  return { bridge, plugins: `${plugins}, cniVersion ${conf.cniVersion}` };
}

/** Stops and removes every pod a runtime lists, `concurrency` at a time; failures are left for the daemon's own teardown. */
async function removeAllPods(client: CriClient, concurrency = 10): Promise<void> {
  const list = await client.call<{ items: { id: string }[] }>('ListPodSandbox', {}, 60_000).catch(() => ({ items: [] }));
  for (let i = 0; i < list.items.length; i += concurrency) {
    await Promise.all(list.items.slice(i, i + concurrency).map(async (p) => {
      await client.call('StopPodSandbox', { podSandboxId: p.id }, 120_000).catch(() => undefined);
      await client.call('RemovePodSandbox', { podSandboxId: p.id }, 120_000).catch(() => undefined);
    }));
  }
}

export async function startNode(o: NodeOptions): Promise<BenchNode> {
  const teardown = new Teardown();
  const close = (): Promise<void> => teardown.run();
  try {
    const registry = await startRegistry();
    teardown.add(() => registry.stop());
    const busybox = await pushBusybox(registry);
    const pause = await pushPause(registry);
    const cgroupRoot = `/berth-bench-${randomBytes(4).toString('hex')}`;
    teardown.add(() => removeCgroupTree(cgroupRoot));

    const work = tempDir('bench-node-');
    teardown.add(() => rmSync(work, { recursive: true, force: true }));
    const nodeArgs = [...berthdNodeFlags()];
    const loopFile = o.loopProbe ? join(work, 'berthd-loop.jsonl') : undefined;
    // The probe reads these from the environment berthd inherits.
    if (loopFile) process.env.BERTH_BENCH_LOOP_FILE = loopFile;
    if (o.cpuProfDir) {
      mkdirSync(o.cpuProfDir, { recursive: true });
      process.env.BERTH_BENCH_PROFILE_DIR = o.cpuProfDir;
    }
    if (loopFile || o.cpuProfDir) nodeArgs.push('--import', PROBE);
    // On, as on a real node; the benchmark scrapes it only before and after a load.
    const metrics = `127.0.0.1:${await freePort()}`;
    const berth = await startDaemon({
      logLevel: 'info', nodeArgs, ownSession: true, metrics,
      toml: `[runtime]\ncgroup_parent = "${cgroupRoot}/berth"\n${o.berthToml ?? ''}`,
    }).finally(() => {
      delete process.env.BERTH_BENCH_LOOP_FILE;
      delete process.env.BERTH_BENCH_PROFILE_DIR;
    });
    teardown.add(async () => {
      await berth.stop();
      berth.cleanup();
    });
    teardown.add(() => removeAllPods(berth.client));
    await berth.client.call('PullImage', { image: { image: busybox.ref } }, 120_000);
    const berthRt: NodeRuntime = {
      name: 'berth', client: berth.client, endpoint: berth.endpoint, pid: berth.proc.pid!, loopFile, metrics,
      toggleProfile: o.cpuProfDir ? () => berth.proc.kill('SIGUSR2') : undefined,
      helpers: (table) => {
        const holders = new Set<number>();
        const out: Helper[] = [];
        for (const p of table) {
          if (p.pid === berth.proc.pid || !p.cmdline.includes(berth.dir)) continue;
          // conmon watches one container; `unshare --kill-child catatonit` holds a pod's PID namespace.
          if (p.comm === 'conmon') out.push({ pid: p.pid, kind: 'conmon' });
          else if (p.comm === 'unshare' && p.cmdline.includes('--kill-child')) {
            holders.add(p.pid);
            out.push({ pid: p.pid, kind: 'infra' });
          }
        }
        for (const p of table) if (holders.has(p.ppid)) out.push({ pid: p.pid, kind: 'infra' });
        return out;
      },
    };

    let ctd: Containerd | undefined;
    let ctdRt: NodeRuntime | undefined;
    let cniPlugins = '';
    if (o.containerd) {
      try {
        const confDir = join(work, 'ctd-cni');
        if (!o.hostNetwork) {
          const c = containerdCniConf(join(berth.dir, 'cni-conf'), confDir, join(work, 'ctd-ipam'));
          teardown.add(() => deleteBridge(c.bridge));
          cniPlugins = c.plugins;
        }
        ctd = await startContainerd({ stateTmpfs: true, insecureRegistries: [registry.host], sandboxImage: pause.ref, cniConfDir: confDir, ownSession: true });
        const started = ctd;
        teardown.add(() => started.stop());
        await ctd.client.call('PullImage', { image: { image: busybox.ref } }, 120_000);
        await ctd.client.call('PullImage', { image: { image: pause.ref } }, 120_000);
        ctdRt = {
          name: 'containerd', client: ctd.client, endpoint: ctd.endpoint, pid: ctd.proc.pid!,
          helpers: (table) => {
            const shims = new Set<number>();
            const out: Helper[] = [];
            for (const p of table) {
              if (p.comm.startsWith('containerd-shim') && p.cmdline.includes(started.socket)) {
                shims.add(p.pid);
                out.push({ pid: p.pid, kind: 'shim' });
              }
            }
            // The sandbox (pause) container of each pod: catatonit from the pause image, a shim's child.
            for (const p of table) if (shims.has(p.ppid) && p.comm === 'pause') out.push({ pid: p.pid, kind: 'pause' });
            return out;
          },
        };
        teardown.add(() => removeAllPods(started.client));
      } catch (err) {
        console.log(`containerd could not start, its rows are left out: ${(err as Error).message}`);
        ctd = undefined;
        ctdRt = undefined;
      }
    }

    const hostNetwork = o.hostNetwork;
    const node: BenchNode = {
      image: busybox.ref,
      network: hostNetwork ? 'host network' : 'CNI bridge',
      runtimes: ctdRt ? [berthRt, ctdRt] : [berthRt],
      berth, containerd: ctd, registry,
      podConfig(name) {
        return {
          metadata: { name, namespace: 'bench', uid: `uid-${name}`, attempt: 0 },
          // kubelet sends no hostname for host-network pods; containerd refuses one.
          ...(hostNetwork ? {} : { hostname: name }),
          linux: {
            cgroupParent: `${cgroupRoot}/pods/${name}`,
            // kubelet's defaults: the pod's network and IPC, a PID namespace per container.
            securityContext: { namespaceOptions: { network: hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' } },
          },
        };
      },
      containerConfig(name, attempt = 0) {
        return { metadata: { name, attempt }, image: { image: busybox.ref }, command: WORKLOAD, linux: {} };
      },
      async fill(rt, prefix, count, multi, concurrency = 10) {
        const pods: PodRef[] = [];
        const one = async (i: number): Promise<void> => {
          const name = `${prefix}-${i}`;
          const config = node.podConfig(name);
          const { podSandboxId } = await rt.client.call<{ podSandboxId: string }>('RunPodSandbox', { config }, 120_000);
          const pod: PodRef = { id: podSandboxId, name, config, containers: [] };
          pods[i] = pod;
          for (let k = 0; k < (i < multi ? 3 : 1); k++) {
            const cname = `c${k}`;
            const { containerId } = await rt.client.call<{ containerId: string }>('CreateContainer', {
              podSandboxId, sandboxConfig: config, config: node.containerConfig(cname),
            }, 120_000);
            await rt.client.call('StartContainer', { containerId }, 120_000);
            pod.containers.push({ id: containerId, name: cname, attempt: 0 });
          }
        };
        for (let i = 0; i < count; i += concurrency) {
          await Promise.all(Array.from({ length: Math.min(concurrency, count - i) }, (_x, j) => one(i + j)));
        }
        return pods;
      },
      removeAllPods: (rt, concurrency) => removeAllPods(rt.client, concurrency),
      close,
    };
    console.log(`pod network: ${node.network}${cniPlugins ? ` (${cniPlugins}; each daemon on a bridge and /24 of its own)` : ''}`);
    console.log(`image: ${busybox.ref}; container: ${WORKLOAD.join(' ')}`);
    return node;
  } catch (err) {
    await close();
    throw err;
  }
}
