// Container and pod stats as domain values: CPU and memory from the cgroups
// runc placed them in, the writable layer from the overlay upper directory,
// network from the pod's namespace, process counts from the pids controller.
import type { Container } from '../container/types.js';
import type { Sandbox } from '../sandbox/types.js';
import { containerCgroupPath } from '../cgroup/host.js';
import type { EventBus } from '../events/bus.js';
import { mountPointOf } from '../image/store/usage.js';
import { loadNativeModule } from '../util/native.js';
import { cgroupReader, CpuRates, nowNs, type CgroupReader, type CgroupSample, type MemorySample } from './cgroup.js';
import { defaultInterface, parseNetDev, PodNetDevs, type InterfaceCounters, type NetDevOpener, type PodNetwork } from './net.js';

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
  /** The container or pod of exactly this ID (lists filter by prefix and sort: too slow per container). */
  findContainer(id: string): Container | undefined;
  findSandbox(id: string): Sandbox | undefined;
  upperDir(containerId: string): string;
  netnsPath(sandboxId: string): string;
}

// Walking an upper directory costs one stat per file. A call about one
// container walks a layer whose last walk is older than this; list calls
// (kubelet's, every 10 s) are answered from the last walk and refresh stale
// ones in the background, as containerd's snapshot usage syncer does. Walks
// run in the native module's thread-pool job, a batch at a time: on the
// event loop, 130 layers held it for 10-15 ms after each list call.
const FS_TTL_MS = 2000;
// kubelet's housekeeping asks ListPodSandboxStats and ListContainerStats back
// to back; in those lists a cgroup sample younger than this is served again
// (with the time it was taken) instead of read twice. A call about one
// container or pod reads afresh.
const SAMPLE_TTL_MS = 1000;
// Background work over a node's worth of containers gives the event loop
// back once it has run this long.
const SLICE_MS = 2;
// A list call's answer is built from what was read, in one go up to this
// long: 1-4 ms at 110 pods. Given back every 2 ms, the other calls that
// arrived meanwhile ran in between, and under kubelet's load the building
// took 30-50 ms of wall time.
const LIST_SLICE_MS = 25;

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs `fn` over `items` in order, yielding to the event loop every `sliceMs` of work. */
async function sliced<T, R>(items: Iterable<T>, fn: (x: T) => Promise<R>, sliceMs = SLICE_MS): Promise<R[]> {
  const out: R[] = [];
  let since = performance.now();
  for (const x of items) {
    out.push(await fn(x));
    if (performance.now() - since >= sliceMs) {
      await tick();
      since = performance.now();
    }
  }
  return out;
}

/** [bytes, inodes] under each root, or null where it cannot be read (the native module's usage). */
export type LayerUsage = (roots: string[]) => Promise<([number, number] | null)[]>;

/**
 * A writable layer's last walk. One walk of a layer at a time: a big layer
 * holds a thread-pool thread while walked, and calls for it meanwhile get
 * that walk's result.
 */
interface LayerWalk {
  /** When the walk ended (started, while it runs). */
  at: number;
  walking: boolean;
  value: Promise<FsStats>;
  /**
   * The last walk that ended, while a newer one runs: what a list call
   * serves meanwhile. Waiting for the refresh instead made a pod list wait
   * for the background walk of every stale layer (20-30 ms at 110 pods).
   */
  done?: Promise<FsStats>;
}

/** A pod's net/dev text (undefined when it could not be read) and when it was read. */
interface NetDevReading {
  text: string | undefined;
  atNs: number;
}

export class StatsService {
  private readonly cpu = new CpuRates();
  private readonly fsCache = new Map<string, LayerWalk>();
  private readonly samples = new Map<string, { at: number; sample: CgroupSample }>();
  private fsMountpoint?: string;
  // Containers whose layer one background loop walks (and, when true, whose
  // cgroup files it opens): found stale by a list call, just started, or
  // there at start.
  private readonly pending = new Map<string, boolean>();
  private draining?: Promise<void>;
  private unsubscribe?: () => void;
  // stats.collection_period (see collectEvery).
  private collectionMs = 0;
  private collector?: NodeJS.Timeout;
  private collecting?: Promise<void>;
  private lastListAt = 0;
  /** Each pod's network counters as the background collection last read them. */
  private readonly netDevs = new Map<string, NetDevReading>();
  private readonly podNets: PodNetDevs;

  constructor(
    private readonly src: StatsSources,
    private readonly reader: CgroupReader = cgroupReader(),
    private readonly ttl = { fsMs: FS_TTL_MS, sampleMs: SAMPLE_TTL_MS },
    private readonly layerUsage: LayerUsage = (roots) => loadNativeModule().usage(roots),
    openNetDevs?: NetDevOpener,
  ) {
    this.podNets = new PodNetDevs(openNetDevs);
  }

  /**
   * Readies what a list call needs of every container berthd has, and of
   * each container as it starts, in the background: the first walk of its
   * layer and the descriptors of its cgroup files. Otherwise the first list
   * call after a start (or restart) at 110 pods did all of it inline.
   */
  follow(events: EventBus): void {
    this.unsubscribe?.();
    this.unsubscribe = events.subscribe((e) => {
      if (e.type === 'started' && e.containerId !== e.podSandboxId) this.queue(e.containerId, true);
      // A pod's own events carry its ID as the container's: its net/dev descriptor keeps the namespace alive.
      if (e.type === 'stopped' && e.containerId === e.podSandboxId) this.podNets.close(e.podSandboxId);
    });
    for (const c of this.src.listContainers({})) this.queue(c.id, true);
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    clearInterval(this.collector);
    this.collector = undefined;
    this.podNets.retain(new Set());
  }

  /**
   * stats.collection_period: while list calls keep coming (one within the
   * last three periods), every pod's and live container's cgroup and each
   * pod's network counters are read in the background once a period, and
   * list calls serve those readings (with the time each was taken) instead
   * of reading at the call. Nobody polling: no reading. 0: off.
   */
  collectEvery(periodMs: number): void {
    clearInterval(this.collector);
    this.collector = undefined;
    this.collectionMs = Math.max(0, periodMs);
    if (this.collectionMs === 0) return;
    this.collector = setInterval(() => {
      if (this.collecting || Date.now() - this.lastListAt > 3 * this.collectionMs) return;
      this.collecting = this.collect()
        .catch(() => undefined)
        .finally(() => (this.collecting = undefined));
    }, this.collectionMs);
    this.collector.unref();
  }

  /** How old a sample a list call serves: one period of the background collection (and a little for its timer), else SAMPLE_TTL_MS. */
  private get listTtlMs(): number {
    return this.collectionMs > 0 ? this.collectionMs + this.ttl.sampleMs : this.ttl.sampleMs;
  }

  /** One background reading of every pod's and live container's cgroup and every pod's network counters. */
  private async collect(): Promise<void> {
    const plan = this.plan(this.src.listSandboxes({}).filter((s) => s.state === 'READY'));
    const [samples, netTexts] = await Promise.all([this.reader.readMany(plan.paths), this.podNets.read(plan.net)]);
    this.keep(plan.paths, samples);
    const atNs = nowNs();
    plan.net.forEach((n, i) => this.netDevs.set(n.sandboxId, { atNs, text: netTexts[i] }));
  }

  /**
   * What a pod list reads: every pod's and live container's cgroup, the live
   * containers, and the network of each pod that has one of its own.
   */
  private plan(list: Sandbox[]): { bySandbox: Map<string, Container[]>; paths: string[]; live: string[]; net: PodNetwork[] } {
    const bySandbox = new Map<string, Container[]>();
    for (const c of this.src.listContainers({})) {
      const l = bySandbox.get(c.sandboxId);
      if (l) l.push(c);
      else bySandbox.set(c.sandboxId, [c]);
    }
    const paths: string[] = [];
    const live: string[] = [];
    const net: PodNetwork[] = [];
    for (const sb of list) {
      const mine = bySandbox.get(sb.id) ?? [];
      paths.push(sb.cgroupParent);
      for (const c of mine) {
        const cgroup = this.liveCgroup(c, sb);
        if (cgroup === undefined) continue;
        paths.push(cgroup);
        live.push(c.id);
      }
      if (this.hasOwnNetwork(sb)) net.push(this.podNetwork(sb));
    }
    return { bySandbox, paths, live, net };
  }

  private queue(id: string, openCgroup = false): void {
    this.pending.set(id, openCgroup || (this.pending.get(id) ?? false));
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /** Settles once the background walks queued so far are done. */
  async settled(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** The container's cgroup while it has one to read (created or running, in a pod berthd knows). */
  private liveCgroup(c: Container, sb: Sandbox | undefined): string | undefined {
    return sb !== undefined && (c.state === 'RUNNING' || c.state === 'CREATED') ? containerCgroupPath(sb.cgroupParent, c.id) : undefined;
  }

  /** One cgroup's sample, read now. */
  private sample(path: string): CgroupSample {
    const sample = this.reader.read(path);
    this.samples.set(path, { at: Date.now(), sample });
    return sample;
  }

  /** Samples for a list call: those younger than listTtlMs again, the rest in one batch read off the event loop. */
  private async listSamples(paths: string[]): Promise<Map<string, CgroupSample>> {
    const now = Date.now();
    const out = new Map<string, CgroupSample>();
    const missing: string[] = [];
    for (const p of new Set(paths)) {
      const hit = this.samples.get(p);
      if (hit && now - hit.at < this.listTtlMs) out.set(p, hit.sample);
      else missing.push(p);
    }
    const read = await this.reader.readMany(missing);
    this.keep(missing, read);
    missing.forEach((p, i) => out.set(p, read[i]!));
    return out;
  }

  /** Samples just read, kept for the list calls that may serve them again. */
  private keep(paths: string[], read: CgroupSample[]): void {
    const at = Date.now();
    paths.forEach((p, i) => this.samples.set(p, { at, sample: read[i]! }));
  }

  private cpuOf(key: string, s: CgroupSample): CpuStats | undefined {
    if (s.cpuUsageNs === undefined) return undefined;
    return { atNs: s.atNs, usageCoreNs: s.cpuUsageNs, nanoCores: this.cpu.rate(key, s.cpuUsageNs, s.atNs) };
  }

  /** Walks the writable layers of `ids` in one job, each result cached as it will be; a layer that cannot be read has no usage. */
  private walk(ids: string[]): Promise<FsStats>[] {
    if (ids.length === 0) return [];
    const uppers = ids.map((id) => this.src.upperDir(id));
    this.fsMountpoint ??= mountPointOf(uppers[0]!);
    const mountpoint = this.fsMountpoint;
    const walked = this.layerUsage(uppers);
    return ids.map((id, i) => {
      const prev = this.fsCache.get(id);
      const value = walked.then((all) => {
        const u = all[i];
        if (!u) throw new Error(`the writable layer of ${id} cannot be read`);
        return { atNs: nowNs(), mountpoint, usedBytes: u[0], inodesUsed: u[1] };
      }).finally(() => {
        entry.walking = false;
        entry.at = Date.now();
        entry.done = undefined;
      });
      const entry: LayerWalk = { at: Date.now(), walking: true, value, done: prev && (prev.walking ? prev.done : prev.value) };
      // Its callers handle the failure; a walk nobody waits for must not become an unhandled rejection.
      value.catch(() => undefined);
      this.fsCache.set(id, entry);
      return value;
    });
  }

  /** Whether the layer's last walk is recent enough to serve, or still running. */
  private fresh(hit: LayerWalk | undefined): boolean {
    return hit !== undefined && (hit.walking || Date.now() - hit.at < this.ttl.fsMs);
  }

  /** One batch walk of the layers among `ids` never walked, before a list call reads them one by one. */
  private walkNew(ids: string[]): Promise<unknown> {
    return Promise.allSettled(this.walk(ids.filter((id) => !this.fsCache.has(id))));
  }

  /**
   * The writable layer's usage: walked now when never walked (or, outside a
   * list, when stale); in a list a stale walk is served and queued for the
   * background refresh, and while a refresh runs the walk before it is served.
   */
  private writableLayer(id: string, list: boolean): Promise<FsStats> {
    const hit = this.fsCache.get(id);
    if (list && hit?.done) return hit.done;
    if (hit && this.fresh(hit)) return hit.value;
    if (!hit || !list) return this.walk([id])[0]!;
    this.queue(id);
    return hit.value;
  }

  private async drain(): Promise<void> {
    // Queued from inside a call or an event: the work comes after it.
    await tick();
    while (this.pending.size > 0) {
      const batch = [...this.pending];
      this.pending.clear();
      const stale: string[] = [];
      await sliced(batch, async ([id, openCgroup]) => {
        const c = this.src.findContainer(id);
        // Removed meanwhile: nothing to do.
        if (!c) return;
        if (!this.fresh(this.fsCache.get(id))) stale.push(id);
        const cgroup = openCgroup ? this.liveCgroup(c, this.src.findSandbox(c.sandboxId)) : undefined;
        if (cgroup !== undefined) this.reader.read(cgroup);
      });
      await Promise.allSettled(this.walk(stale));
    }
  }

  /** Sum of every writable layer (from the last walks; stale ones are refreshed in the background), for the container fs gauge. */
  async writableLayersBytes(): Promise<number> {
    const sizes = await sliced(this.src.listContainers({}), (c) => this.writableLayer(c.id, true).then((f) => f.usedBytes, () => 0));
    return sizes.reduce((a, b) => a + b, 0);
  }

  private async containerStats(c: Container, cg: CgroupSample | undefined, list: boolean): Promise<ContainerStatsView> {
    const fs = await this.writableLayer(c.id, list).catch(() => undefined);
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
    const paths = new Map<string, string>();
    for (const c of list) {
      const cgroup = this.liveCgroup(c, sbs.get(c.sandboxId));
      if (cgroup !== undefined) paths.set(c.id, cgroup);
    }
    this.lastListAt = Date.now();
    const [samples] = await Promise.all([this.listSamples([...paths.values()]), this.walkNew(list.map((c) => c.id))]);
    const out = await sliced(list, (c) => {
      const p = paths.get(c.id);
      return this.containerStats(c, p === undefined ? undefined : samples.get(p), true);
    }, LIST_SLICE_MS);
    this.prune();
    return out;
  }

  async container(c: Container): Promise<ContainerStatsView> {
    const cgroup = this.liveCgroup(c, this.src.findSandbox(c.sandboxId));
    const v = await this.containerStats(c, cgroup === undefined ? undefined : this.sample(cgroup), false);
    this.prune();
    return v;
  }

  private hasOwnNetwork(sb: Sandbox): boolean {
    return sb.config.namespaces.network !== 'NODE' && sb.state === 'READY';
  }

  private podNetwork(sb: Sandbox): PodNetwork {
    return { sandboxId: sb.id, netns: this.src.netnsPath(sb.id) };
  }

  /** The pod's interfaces, from what a list call read (`given`) or read now; none for a host-network pod. */
  private async network(sb: Sandbox, given?: NetDevReading): Promise<NetworkStats | undefined> {
    if (!this.hasOwnNetwork(sb)) return undefined;
    const reading = given ?? { text: (await this.podNets.read([this.podNetwork(sb)]))[0], atNs: nowNs() };
    const ifs: InterfaceCounters[] | undefined = reading.text === undefined ? undefined : parseNetDev(reading.text);
    return ifs === undefined ? undefined : { atNs: reading.atNs, interfaces: ifs, defaultInterface: defaultInterface(ifs) };
  }

  private async sandboxStats(sb: Sandbox, mine: Container[], read: { samples: Map<string, CgroupSample>; netDev?: NetDevReading } | undefined): Promise<SandboxStatsView> {
    const list = read !== undefined;
    const sample = (path: string): CgroupSample => read?.samples.get(path) ?? this.sample(path);
    const cg = sample(sb.cgroupParent);
    const network = await this.network(sb, read?.netDev);
    const containers: ContainerStatsView[] = [];
    for (const c of mine) {
      const cgroup = this.liveCgroup(c, sb);
      if (cgroup !== undefined) containers.push(await this.containerStats(c, sample(cgroup), list));
    }
    const v: SandboxStatsView = { sandbox: sb, containers, network, cpu: this.cpuOf(`pod:${sb.id}`, cg) };
    if (cg.memory) v.memory = { ...cg.memory, atNs: cg.atNs };
    if (cg.pids !== undefined) v.processCount = { atNs: cg.atNs, count: cg.pids };
    return v;
  }

  async sandboxes(f: { id?: string; labels?: Record<string, string> }): Promise<SandboxStatsView[]> {
    this.lastListAt = Date.now();
    const list = this.src.listSandboxes(f).filter((s) => s.state === 'READY');
    const { bySandbox, paths, live, net } = this.plan(list);
    // Every pod's and live container's cgroup, and each pod's net/dev, read off the event loop (what the background collection read recently is served again).
    const oldest = nowNs() - this.listTtlMs * 1e6;
    const netDev = new Map<string, NetDevReading>();
    const unread: PodNetwork[] = [];
    for (const n of net) {
      const hit = this.netDevs.get(n.sandboxId);
      if (hit && hit.atNs > oldest) netDev.set(n.sandboxId, hit);
      else unread.push(n);
    }
    const [samples, netTexts] = await Promise.all([this.listSamples(paths), this.podNets.read(unread), this.walkNew(live)]);
    const atNs = nowNs();
    unread.forEach((n, i) => netDev.set(n.sandboxId, { text: netTexts[i], atNs }));
    const out = await sliced(list, (sb) => this.sandboxStats(sb, bySandbox.get(sb.id) ?? [], { samples, netDev: netDev.get(sb.id) }), LIST_SLICE_MS);
    this.prune();
    return out;
  }

  async sandbox(sb: Sandbox): Promise<SandboxStatsView> {
    const v = await this.sandboxStats(sb, this.src.listContainers({ sandboxId: sb.id }), undefined);
    this.prune();
    return v;
  }

  private pruneCounter = 0;
  private retainedAt = 0;
  // Forget samples of removed containers and pods now and then, not on every call.
  private prune(): void {
    // Kept cgroup descriptors go sooner: a container is replaced every
    // second on a busy node, and each holds five.
    if (Date.now() - this.retainedAt >= 1000) {
      this.retainedAt = Date.now();
      const cgroups = new Set<string>();
      const sbs = new Map(this.src.listSandboxes({}).map((sb) => [sb.id, sb]));
      for (const sb of sbs.values()) cgroups.add(sb.cgroupParent);
      for (const c of this.src.listContainers({})) {
        const cgroup = this.liveCgroup(c, sbs.get(c.sandboxId));
        if (cgroup !== undefined) cgroups.add(cgroup);
      }
      this.reader.retain(cgroups);
      this.podNets.retain(new Set([...sbs.values()].filter((sb) => this.hasOwnNetwork(sb)).map((sb) => sb.id)));
    }
    if (++this.pruneCounter % 32 !== 0) return;
    const live = new Set<string>();
    for (const c of this.src.listContainers({})) live.add(c.id);
    for (const s of this.src.listSandboxes({})) live.add(`pod:${s.id}`);
    this.cpu.retain(live);
    for (const k of this.fsCache.keys()) if (!live.has(k)) this.fsCache.delete(k);
    const now = Date.now();
    for (const [k, v] of this.samples) if (now - v.at >= this.listTtlMs) this.samples.delete(k);
    for (const [k, v] of this.netDevs) if (now * 1e6 - v.atNs >= this.listTtlMs * 1e6) this.netDevs.delete(k);
  }
}
