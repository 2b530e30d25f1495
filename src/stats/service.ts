// Container and pod stats as domain values: CPU and memory from the cgroups
// runc placed them in, the writable layer from the overlay upper directory,
// network from the pod's namespace, process counts from the pids controller.
import type { Container } from '../container/types.js';
import type { Sandbox } from '../sandbox/types.js';
import { containerCgroupPath } from '../cgroup/host.js';
import { diskUsage, mountPointOf } from '../image/store/usage.js';
import { walkUsage } from './read.js';
import { cgroupReader, CpuRates, nowNs, type CgroupReader, type CgroupSample, type MemorySample } from './cgroup.js';
import { defaultInterface, readNetDevOfNetns, readNetDevOfPid, type InterfaceCounters } from './net.js';

export interface CpuStats {
  atNs: number;
  usageCoreNs: number;
  /** Undefined until a second sample exists. */
  nanoCores?: number;
}

export interface FsStats {
  atNs: number;
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
}

export interface ContainerStatsView {
  container: Container;
  cpu?: CpuStats;
  memory?: MemorySample & { atNs: number };
  writableLayer?: FsStats;
}

export interface NetworkStats {
  atNs: number;
  defaultInterface?: InterfaceCounters;
  interfaces: InterfaceCounters[];
}

export interface SandboxStatsView {
  sandbox: Sandbox;
  cpu?: CpuStats;
  memory?: MemorySample & { atNs: number };
  network?: NetworkStats;
  processCount?: { atNs: number; count: number };
  containers: ContainerStatsView[];
}

/** What stats need from the container and sandbox services. */
export interface StatsSources {
  listContainers(f: { id?: string; sandboxId?: string; labels?: Record<string, string> }): Container[];
  listSandboxes(f: { id?: string; labels?: Record<string, string> }): Sandbox[];
  upperDir(containerId: string): string;
  netnsPath(sandboxId: string): string;
}

// Walking an upper directory costs one stat per file; kubelet asks every 10 s,
// so a walk result younger than this is reused.
const FS_TTL_MS = 2000;
// kubelet's housekeeping asks ListPodSandboxStats and ListContainerStats back
// to back, each reading every container's cgroup files; in those lists a
// sample younger than this is served again (with the time it was taken)
// instead of read twice. A call about one container or pod reads afresh.
const SAMPLE_TTL_MS = 1000;
// Pods or containers read between two yields to the event loop (reads are
// synchronous). Under CPU contention a cgroup's files took 0.2-0.7 ms here:
// 32 at a time held other calls for 30-100 ms; 8, for a quarter of that.
const BATCH = 8;

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs `fn` over `items` in batches, yielding between batches so other calls are served. */
async function batched<T, R>(items: T[], fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += BATCH) {
    if (i > 0) await tick();
    out.push(...(await Promise.all(items.slice(i, i + BATCH).map(fn))));
  }
  return out;
}

export class StatsService {
  private readonly cpu = new CpuRates();
  private readonly fsCache = new Map<string, { at: number; value: Promise<FsStats> }>();
  private readonly samples = new Map<string, { at: number; sample: CgroupSample }>();
  private fsMountpoint?: string;

  constructor(
    private readonly src: StatsSources,
    private readonly reader: CgroupReader = cgroupReader(),
  ) {}

  private cgroupPath(c: Container, sb: Sandbox): string {
    return containerCgroupPath(sb.cgroupParent, c.id);
  }

  /** The cgroup's sample; for lists, the last one when younger than SAMPLE_TTL_MS. */
  private sample(path: string, list: boolean): CgroupSample {
    const now = Date.now();
    const hit = this.samples.get(path);
    if (list && hit && now - hit.at < SAMPLE_TTL_MS) return hit.sample;
    const sample = this.reader.read(path);
    this.samples.set(path, { at: now, sample });
    return sample;
  }

  private cpuOf(key: string, s: CgroupSample): CpuStats | undefined {
    if (s.cpuUsageNs === undefined) return undefined;
    return { atNs: s.atNs, usageCoreNs: s.cpuUsageNs, nanoCores: this.cpu.rate(key, s.cpuUsageNs, s.atNs) };
  }

  private writableLayer(id: string): Promise<FsStats> {
    const hit = this.fsCache.get(id);
    if (hit && Date.now() - hit.at < FS_TTL_MS) return hit.value;
    const upper = this.src.upperDir(id);
    this.fsMountpoint ??= mountPointOf(upper);
    const mountpoint = this.fsMountpoint;
    // Small layers (the usual case) are walked synchronously; a big one is finished asynchronously.
    const quick = walkUsage(upper, 2000);
    const value = quick.complete
      ? Promise.resolve({ atNs: nowNs(), mountpoint, usedBytes: quick.bytes, inodesUsed: quick.inodes })
      : diskUsage(upper).then((u) => ({ atNs: nowNs(), mountpoint, usedBytes: u.bytes, inodesUsed: u.inodes }));
    this.fsCache.set(id, { at: Date.now(), value });
    return value;
  }

  /** Sum of every writable layer (cached walks), for the container fs gauge. */
  async writableLayersBytes(): Promise<number> {
    const all = this.src.listContainers({});
    // Batched like the CRI stats calls: the first walk of each layer is synchronous.
    const sizes = await batched(all, (c) => this.writableLayer(c.id).then((f) => f.usedBytes, () => 0));
    return sizes.reduce((a, b) => a + b, 0);
  }

  private async containerStats(c: Container, sb: Sandbox | undefined, list: boolean): Promise<ContainerStatsView> {
    const live = sb !== undefined && (c.state === 'RUNNING' || c.state === 'CREATED');
    const cg = live ? this.sample(this.cgroupPath(c, sb), list) : undefined;
    const fs = await this.writableLayer(c.id).catch(() => undefined);
    const v: ContainerStatsView = { container: c, writableLayer: fs };
    if (cg) {
      v.cpu = this.cpuOf(c.id, cg);
      if (cg.memory) v.memory = { ...cg.memory, atNs: cg.atNs };
    }
    return v;
  }

  async containers(f: { id?: string; sandboxId?: string; labels?: Record<string, string> }): Promise<ContainerStatsView[]> {
    const sbs = new Map(this.src.listSandboxes({}).map((s) => [s.id, s]));
    const list = this.src.listContainers(f).filter((c) => c.state === 'RUNNING' || c.state === 'CREATED');
    const out = await batched(list, (c) => this.containerStats(c, sbs.get(c.sandboxId), true));
    this.prune();
    return out;
  }

  async container(c: Container): Promise<ContainerStatsView> {
    const sb = this.src.listSandboxes({ id: c.sandboxId }).find((s) => s.id === c.sandboxId);
    return this.containerStats(c, sb, false);
  }

  private async network(sb: Sandbox, containers: Container[]): Promise<NetworkStats | undefined> {
    if (sb.config.namespaces.network === 'NODE' || sb.state !== 'READY') return undefined;
    const pids = [...containers.filter((c) => c.state === 'RUNNING' && c.pid > 0).map((c) => c.pid), ...(sb.infraPid ? [sb.infraPid] : [])];
    let ifs: InterfaceCounters[] | undefined;
    for (const pid of pids) {
      ifs = readNetDevOfPid(pid);
      if (ifs) break;
    }
    ifs ??= await readNetDevOfNetns(this.src.netnsPath(sb.id));
    if (!ifs) return undefined;
    return { atNs: nowNs(), interfaces: ifs, defaultInterface: defaultInterface(ifs) };
  }

  private async sandboxStats(sb: Sandbox, all: Container[], list: boolean): Promise<SandboxStatsView> {
    const mine = all.filter((c) => c.sandboxId === sb.id);
    const cg = this.sample(sb.cgroupParent, list);
    const [network, containers] = await Promise.all([
      this.network(sb, mine),
      Promise.all(mine.filter((c) => c.state === 'RUNNING' || c.state === 'CREATED').map((c) => this.containerStats(c, sb, list))),
    ]);
    const v: SandboxStatsView = { sandbox: sb, containers, network, cpu: this.cpuOf(`pod:${sb.id}`, cg) };
    if (cg.memory) v.memory = { ...cg.memory, atNs: cg.atNs };
    if (cg.pids !== undefined) v.processCount = { atNs: cg.atNs, count: cg.pids };
    return v;
  }

  async sandboxes(f: { id?: string; labels?: Record<string, string> }): Promise<SandboxStatsView[]> {
    const list = this.src.listSandboxes(f).filter((s) => s.state === 'READY');
    const bySandbox = new Map<string, Container[]>();
    for (const c of this.src.listContainers({})) {
      const l = bySandbox.get(c.sandboxId);
      if (l) l.push(c);
      else bySandbox.set(c.sandboxId, [c]);
    }
    const out = await batched(list, (sb) => this.sandboxStats(sb, bySandbox.get(sb.id) ?? [], true));
    this.prune();
    return out;
  }

  sandbox(sb: Sandbox): Promise<SandboxStatsView> {
    return this.sandboxStats(sb, this.src.listContainers({ sandboxId: sb.id }), false);
  }

  private pruneCounter = 0;
  // Forget samples of removed containers and pods now and then, not on every call.
  private prune(): void {
    if (++this.pruneCounter % 32 !== 0) return;
    const live = new Set<string>();
    for (const c of this.src.listContainers({})) live.add(c.id);
    for (const s of this.src.listSandboxes({})) live.add(`pod:${s.id}`);
    this.cpu.retain(live);
    for (const k of this.fsCache.keys()) if (!live.has(k)) this.fsCache.delete(k);
    const now = Date.now();
    for (const [k, v] of this.samples) if (now - v.at >= SAMPLE_TTL_MS) this.samples.delete(k);
  }
}
