// Pod network counters from the net/dev of each pod's network namespace. The
// file is opened once per pod from inside the namespace (openNetDevs, a
// short-lived native thread) and the descriptor kept: read from offset 0 it
// shows that namespace's counters whatever runs in the pod, also when no
// process is left in it (a pod between two containers). Reading it through a
// process of the pod meant no counters, or an `nsenter` per call, whenever
// the pod's container was being replaced.
import { BatchReads } from './read.js';
import { loadNativeModule } from '../util/native.js';

export interface InterfaceCounters {
  name: string;
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}

/** Parses /proc/net/dev; loopback is left out (cAdvisor and kubelet ignore it). */
export function parseNetDev(text: string, withLoopback = false): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === 'lo' && !withLoopback) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    // Receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs ...
    if (f.length < 16) continue;
    out.push({ name, rxBytes: f[0]!, rxErrors: f[2]!, txBytes: f[8]!, txErrors: f[10]! });
  }
  return out;
}

/** kubelet's default interface is eth0; otherwise the first one. */
export function defaultInterface(ifs: InterfaceCounters[]): InterfaceCounters | undefined {
  return ifs.find((i) => i.name === 'eth0') ?? ifs[0];
}

/** A pod whose network counters are read, and the file its network namespace is pinned on. */
export interface PodNetwork {
  sandboxId: string;
  netns: string;
}

/** Descriptors of a network namespace's net/dev for each pinned namespace file, null where it could not be opened. */
export type NetDevOpener = (netns: string[]) => Promise<(number | null)[]>;

/**
 * Each pod's net/dev descriptor, opened on first use and kept until the pod
 * stops. A descriptor keeps its namespace alive, so it is closed when the
 * pod stops, not later.
 */
export class PodNetDevs {
  private readonly fds = new Map<string, number>();
  private readonly batches = new BatchReads();
  /** Pods whose descriptor is being opened: how many opens, and whether the pod stopped meanwhile. */
  private readonly opening = new Map<string, { count: number; stopped: boolean }>();

  constructor(private readonly open: NetDevOpener = (netns) => loadNativeModule().openNetDevs(netns)) {}

  /** Each pod's net/dev text, undefined where it could not be read; read off the event loop. */
  async read(pods: PodNetwork[]): Promise<(string | undefined)[]> {
    const closed = pods.filter((p) => !this.fds.has(p.sandboxId));
    if (closed.length > 0) {
      for (const p of closed) {
        const o = this.opening.get(p.sandboxId);
        if (o) o.count++;
        else this.opening.set(p.sandboxId, { count: 1, stopped: false });
      }
      let opened: (number | null)[] = [];
      try {
        opened = await this.open(closed.map((p) => p.netns));
      } finally {
        closed.forEach((p, i) => {
          const o = this.opening.get(p.sandboxId)!;
          const fd = opened[i];
          // Another call opened it meanwhile (one descriptor per pod), or the pod stopped: not kept.
          if (fd !== null && fd !== undefined) {
            if (this.fds.has(p.sandboxId) || o.stopped) this.batches.close([fd]);
            else this.fds.set(p.sandboxId, fd);
          }
          if (--o.count === 0) this.opening.delete(p.sandboxId);
        });
      }
    }
    const at = pods.map((p) => this.fds.get(p.sandboxId));
    const texts = await this.batches.read(at.filter((fd): fd is number => fd !== undefined));
    let k = 0;
    return at.map((fd) => (fd === undefined ? undefined : texts[k++]));
  }

  /** Closes the descriptor of a pod that stopped (and one being opened, once it is). */
  close(sandboxId: string): void {
    const o = this.opening.get(sandboxId);
    if (o) o.stopped = true;
    const fd = this.fds.get(sandboxId);
    if (fd === undefined) return;
    this.fds.delete(sandboxId);
    this.batches.close([fd]);
  }

  /** Closes the descriptors of every pod not in `live`. */
  retain(live: Set<string>): void {
    for (const id of [...this.fds.keys(), ...this.opening.keys()]) if (!live.has(id)) this.close(id);
  }
}
