// Conversions from domain stats (src/stats) to CRI stats messages.
import type { ContainerStats } from '../cri/generated/runtime/v1/ContainerStats.js';
import type { PodSandboxStats } from '../cri/generated/runtime/v1/PodSandboxStats.js';
import type { CpuUsage } from '../cri/generated/runtime/v1/CpuUsage.js';
import type { MemoryUsage } from '../cri/generated/runtime/v1/MemoryUsage.js';
import type { NetworkInterfaceUsage } from '../cri/generated/runtime/v1/NetworkInterfaceUsage.js';
import type { ContainerStatsView, CpuStats, SandboxStatsView } from '../stats/service.js';
import type { MemorySample } from '../stats/cgroup.js';
import type { InterfaceCounters } from '../stats/net.js';
import { podSandboxMetadata } from './sandbox_common.js';

// 64-bit fields go to the encoder as numbers: a stats list of 110 pods has
// ~3,000 of them, and a decimal string costs a BigInt to make it and a parse
// back to 32-bit halves to encode it (both showed in berthd's profile under
// bench/node-scale.ts). The double is the value the string was made from, so
// nothing is lost.
const u64 = (n: number | undefined): { value: number } | null => (n === undefined ? null : { value: Math.max(0, Math.round(n)) });
const ts = (ns: number): number => Math.round(ns);

export function criCpu(c: CpuStats | undefined): CpuUsage | null {
  if (!c) return null;
  return { timestamp: ts(c.atNs), usageCoreNanoSeconds: u64(c.usageCoreNs), usageNanoCores: u64(c.nanoCores) };
}

export function criMemory(m: (MemorySample & { atNs: number }) | undefined): MemoryUsage | null {
  if (!m) return null;
  return {
    timestamp: ts(m.atNs), workingSetBytes: u64(m.workingSetBytes), availableBytes: u64(m.availableBytes), usageBytes: u64(m.usageBytes),
    rssBytes: u64(m.rssBytes), pageFaults: u64(m.pageFaults), majorPageFaults: u64(m.majorPageFaults),
  };
}

function criIf(i: InterfaceCounters): NetworkInterfaceUsage {
  return { name: i.name, rxBytes: u64(i.rxBytes), rxErrors: u64(i.rxErrors), txBytes: u64(i.txBytes), txErrors: u64(i.txErrors) };
}

export function criContainerStats(v: ContainerStatsView): ContainerStats {
  const c = v.container;
  const fs = v.writableLayer;
  return {
    attributes: { id: c.id, metadata: { name: c.config.name, attempt: c.config.attempt }, labels: c.config.labels, annotations: c.config.annotations },
    cpu: criCpu(v.cpu),
    memory: criMemory(v.memory),
    writableLayer: fs ? { timestamp: ts(fs.atNs), fsId: { mountpoint: fs.mountpoint }, usedBytes: u64(fs.usedBytes), inodesUsed: u64(fs.inodesUsed) } : null,
  };
}

export function criSandboxStats(v: SandboxStatsView): PodSandboxStats {
  const sb = v.sandbox;
  const net = v.network;
  return {
    attributes: { id: sb.id, metadata: podSandboxMetadata(sb), labels: sb.config.labels, annotations: sb.config.annotations },
    linux: {
      cpu: criCpu(v.cpu),
      memory: criMemory(v.memory),
      network: net ? { timestamp: ts(net.atNs), defaultInterface: net.defaultInterface ? criIf(net.defaultInterface) : null, interfaces: net.interfaces.map(criIf) } : null,
      process: v.processCount ? { timestamp: ts(v.processCount.atNs), processCount: u64(v.processCount.count) } : null,
      containers: v.containers.map(criContainerStats),
    },
  };
}
