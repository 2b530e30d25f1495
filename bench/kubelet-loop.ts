// One of kubelet's loops against one runtime, in a worker thread with a CRI
// connection of its own (bench/node-scale.ts starts one per loop).
//
// Kubelet's client is Go: a slow decode or a collection in one goroutine
// does not hold up the answer another one is waiting for. A Node client
// running every loop on one thread does: each of its stalls (tens of
// milliseconds at a replacement's runc, a relist's decode, a collection)
// lands on whatever calls are in flight then, for either runtime, and would
// be reported as the runtime's latency. One thread per loop keeps a loop's
// timings its own.
//
// Messages from the parent: {type: 'run', ms, floor?} runs the loop for `ms`
// and answers {type: 'ran', result}; {type: 'stop'} ends it (the events
// loop answers with its result then). Results are what accrued since the
// previous one.
import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { CriClient } from '../src/cli/client.js';
import { CallLog, runc } from './lib.js';
import type { PodRef } from './runtimes.js';

export type LoopKind = 'status' | 'relist' | 'stats' | 'replace' | 'events';

export interface LoopData {
  kind: LoopKind;
  endpoint: string;
  /** The pods whose containers the replace loop replaces, round robin. */
  pods: PodRef[];
  /** A container's config but for its metadata (replace loop). */
  container: Record<string, unknown>;
  periodMs: number;
  /** Replacements under way beyond which a tick is skipped. */
  maxReplacing: number;
}

/** When set, replacements are bare `runc run -d` + `runc delete -f` of this bundle (the floor), and every call is timed apart. */
export interface Floor {
  bundle: string;
  root: string;
}

export interface LoopResult {
  calls: [string, number[]][];
  failures: [string, { count: number; first: string[] }][];
  floorCalls: [string, number[]][];
  replaced: number;
  replaceSkipped: number;
  relists: number;
  events: number;
  eventDelays: number[];
  eventsUnsupported: string;
  /** This thread's worst event-loop delay while it ran (ms). */
  loopMaxMs: number;
}

export type ToLoop = { type: 'run'; ms: number; floor?: Floor } | { type: 'stop' };
export type FromLoop = { type: 'ready' } | { type: 'ran'; result: LoopResult } | { type: 'stopped'; result: LoopResult };

/** kubelet's housekeeping calls, in its order. */
const STATS = ['ListPodSandboxStats', 'ListContainerStats', 'ImageFsInfo'];

interface ListedSandbox { id: string; state: string }
interface ListedContainer { id: string; podSandboxId: string; state: string }

class Loop {
  private calls = new CallLog();
  private floorCalls = new CallLog();
  private replaced = 0;
  private replaceSkipped = 0;
  private relists = 0;
  private events = 0;
  private eventDelays: number[] = [];
  private eventsUnsupported = '';
  private floor?: Floor;
  private floorSeq = 0;
  private next = 0;
  private sandboxes = new Map<string, string>();
  private containers = new Map<string, { pod: string; state: string }>();
  private readonly replacing = new Set<Promise<void>>();
  private stream?: ClientReadableStream<{ createdAt: string }>;
  private readonly client: CriClient;
  private readonly delay = monitorEventLoopDelay({ resolution: 5 });

  constructor(private readonly d: LoopData) {
    this.client = new CriClient(d.endpoint, 60_000);
  }

  /** Where calls are timed: the floor's apart from the runtime's load. */
  private get log(): CallLog {
    return this.floor ? this.floorCalls : this.calls;
  }

  /** A call outside the measured load. */
  private untimed<T>(method: string, req: object): Promise<T> {
    return this.client.call<T>(method, req, 60_000);
  }

  private call<T>(method: string, req: object): Promise<T> {
    return this.log.time(method, () => this.untimed<T>(method, req));
  }

  async init(): Promise<void> {
    if (this.d.kind === 'events') this.subscribe();
    // PLEG's first relist sees everything as new; not measured.
    if (this.d.kind === 'relist') await this.relist(false);
    // kubelet's connection is long open and its calls long compiled: each
    // loop's first call (the channel's connection, this thread's first
    // encoding and decoding, berthd's first answer of that kind) is made
    // before the measured load, not timed as its first second.
    if (this.d.kind === 'status') await this.untimed('Status', {});
    if (this.d.kind === 'stats') for (const m of STATS) await this.client.callRaw(m, {}, 60_000);
    if (this.d.kind === 'replace') await this.untimed('Version', {});
  }

  private subscribe(): void {
    const s = this.client.open<{ createdAt: string }>('GetContainerEvents', {});
    this.stream = s;
    s.on('data', (m) => {
      this.events++;
      this.eventDelays.push(Date.now() - Number(BigInt(m.createdAt) / 1_000_000n));
    });
    s.on('error', (err: Error & { code?: number }) => {
      // 1: CANCELLED, our own cancel() at the end.
      if (err.code !== 1) this.eventsUnsupported = err.message;
    });
  }

  /** PLEG's relist: what changed since the last one gets its statuses read. */
  private async relist(record = true): Promise<void> {
    const call = record ? this.call.bind(this) : this.untimed.bind(this);
    const sbs = (await call<{ items: ListedSandbox[] }>('ListPodSandbox', {})).items;
    const cs = (await call<{ containers: ListedContainer[] }>('ListContainers', {})).containers;
    const changed = new Set<string>();
    const sbNow = new Map(sbs.map((s) => [s.id, s.state]));
    for (const [id, state] of sbNow) if (this.sandboxes.get(id) !== state) changed.add(id);
    for (const id of this.sandboxes.keys()) if (!sbNow.has(id)) changed.add(id);
    const cNow = new Map(cs.map((c) => [c.id, { pod: c.podSandboxId, state: c.state }]));
    for (const [id, c] of cNow) if (this.containers.get(id)?.state !== c.state) changed.add(c.pod);
    for (const [id, c] of this.containers) if (!cNow.has(id)) changed.add(c.pod);
    this.sandboxes = sbNow;
    this.containers = cNow;
    if (record && !this.floor) this.relists++;
    for (const pod of changed) {
      if (!sbNow.has(pod)) continue;
      await call('PodSandboxStatus', { podSandboxId: pod }).catch(() => undefined);
      for (const c of cs) if (c.podSandboxId === pod) await call('ContainerStatus', { containerId: c.id }).catch(() => undefined);
    }
  }

  // Stats answers are timed to their last byte but not decoded: the client
  // does not use them, and decoding a 110-pod list in this Node client takes
  // 20-30 ms (kubelet's Go decoder, about a millisecond), which would time the
  // benchmark rather than the runtime.
  private async stats(): Promise<void> {
    for (const m of STATS) {
      await this.log.time(m, () => this.client.callRaw(m, {}, 60_000));
    }
  }

  private async replaceOne(): Promise<void> {
    const all = this.d.pods.flatMap((p) => p.containers.map((_c, k) => ({ pod: p, k })));
    const { pod, k } = all[this.next++ % all.length]!;
    const c = pod.containers[k]!;
    await this.call('StopContainer', { containerId: c.id, timeout: 10 });
    await this.call('RemoveContainer', { containerId: c.id });
    const attempt = c.attempt + 1;
    const { containerId } = await this.call<{ containerId: string }>('CreateContainer', {
      podSandboxId: pod.id, sandboxConfig: pod.config, config: { ...this.d.container, metadata: { name: c.name, attempt } },
    });
    pod.containers[k] = { id: containerId, name: c.name, attempt };
    await this.call('StartContainer', { containerId });
    this.replaced++;
  }

  private async floorOnce(): Promise<void> {
    const { bundle, root } = this.floor!;
    const id = `bench-scale-floor-${process.pid}-${this.d.kind}-${this.floorSeq++}`;
    await this.floorCalls.time('runc run -d', async () => {
      if ((await runc(['--root', root, 'run', '-d', '--bundle', bundle, id])) !== 0) throw new Error(`runc run -d ${id} failed`);
    });
    await this.floorCalls.time('runc delete -f', () => runc(['--root', root, 'delete', '-f', id]));
  }

  private tick(): Promise<void> {
    switch (this.d.kind) {
      case 'status': return this.call('Status', {}).then(() => undefined);
      case 'relist': return this.relist();
      case 'stats': return this.stats();
      case 'replace': {
        if (this.replacing.size >= this.d.maxReplacing) {
          this.replaceSkipped++;
          return Promise.resolve();
        }
        const p: Promise<void> = (this.floor ? this.floorOnce() : this.replaceOne()).catch(() => undefined).finally(() => this.replacing.delete(p));
        this.replacing.add(p);
        return Promise.resolve();
      }
      case 'events': return Promise.resolve();
    }
  }

  /** Runs the loop until `ms` have passed, then waits for the replacements under way. */
  async run(ms: number, floor?: Floor): Promise<void> {
    this.floor = floor;
    if (this.d.kind === 'events') return;
    this.delay.enable();
    const until = performance.now() + ms;
    // The relist's period runs from the end of the previous one (kubelet's PLEG); the others tick at a fixed rate.
    const sliding = this.d.kind === 'relist';
    let next = performance.now();
    while (next < until) {
      await this.tick().catch(() => undefined); // failures are in the call log
      next = sliding ? performance.now() + this.d.periodMs : next + this.d.periodMs;
      const wait = next - performance.now();
      if (next < until && wait > 0) await sleep(wait);
    }
    await Promise.all([...this.replacing]);
    this.delay.disable();
    this.floor = undefined;
  }

  stop(): void {
    this.stream?.cancel();
    this.client.close();
  }

  /** What accrued since the last result. */
  take(): LoopResult {
    const r: LoopResult = {
      calls: [...this.calls.ms], failures: [...this.calls.failures], floorCalls: [...this.floorCalls.ms],
      replaced: this.replaced, replaceSkipped: this.replaceSkipped, relists: this.relists,
      events: this.events, eventDelays: this.eventDelays, eventsUnsupported: this.eventsUnsupported,
      loopMaxMs: this.delay.count ? this.delay.max / 1e6 : 0,
    };
    this.delay.reset();
    this.calls = new CallLog();
    this.floorCalls = new CallLog();
    this.replaced = this.replaceSkipped = this.relists = this.events = 0;
    this.eventDelays = [];
    return r;
  }
}

if (parentPort) {
  const port = parentPort;
  const loop = new Loop(workerData as LoopData);
  const send = (m: FromLoop): void => port.postMessage(m);
  await loop.init();
  send({ type: 'ready' });
  port.on('message', (m: ToLoop) => {
    if (m.type === 'run') {
      void loop.run(m.ms, m.floor).then(() => send({ type: 'ran', result: loop.take() }));
    } else {
      // Let the stream's cancellation arrive before the result is taken.
      loop.stop();
      setTimeout(() => {
        send({ type: 'stopped', result: loop.take() });
        port.close();
      }, 200);
    }
  });
}
