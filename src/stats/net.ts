// Pod network counters from /proc/<pid>/net/dev of a process inside the pod's
// network namespace: the kernel answers for the reader's namespace of that
// pid, so no setns (and no helper process) is needed.
import { readSmall } from './read.js';
import { run } from '../util/run.js';

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

/** The net/dev file that shows the network namespace of process `pid`. */
export function netDevFile(pid: number): string {
  return `/proc/${pid}/net/dev`;
}

export function readNetDevOfPid(pid: number): InterfaceCounters[] | undefined {
  const t = readSmall(netDevFile(pid));
  return t === undefined ? undefined : parseNetDev(t);
}

/** For a pod with no process left in its namespace: one nsenter, only then. */
export function readNetDevOfNetns(netns: string): Promise<InterfaceCounters[] | undefined> {
  return run('nsenter', [`--net=${netns}`, 'cat', '/proc/net/dev'], { timeoutMs: 5000 }).then((r) => parseNetDev(r.stdout), () => undefined);
}

/** kubelet's default interface is eth0; otherwise the first one. */
export function defaultInterface(ifs: InterfaceCounters[]): InterfaceCounters | undefined {
  return ifs.find((i) => i.name === 'eth0') ?? ifs[0];
}
