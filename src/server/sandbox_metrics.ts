import type { ListPodSandboxMetricsResponse } from '../cri/generated/runtime/v1/ListPodSandboxMetricsResponse.js';
import type { PodSandboxMetrics } from '../cri/generated/runtime/v1/PodSandboxMetrics.js';
import type { Metric } from '../cri/generated/runtime/v1/Metric.js';
import type { Services } from './context.js';
import type { SandboxStatsView } from '../stats/service.js';
import { DESCRIPTORS } from './metric_descriptors.js';

const TYPE = new Map(DESCRIPTORS.map((d) => [d.name, d.type]));

function metric(name: string, atNs: number, labels: string[], value: number | undefined): Metric[] {
  if (value === undefined) return [];
  return [{ name, timestamp: BigInt(Math.round(atNs)).toString(), metricType: TYPE.get(name) ?? 'GAUGE', labelValues: labels, value: { value: BigInt(Math.max(0, Math.floor(value))).toString() } }];
}

function podMetrics(v: SandboxStatsView): PodSandboxMetrics {
  const sb = v.sandbox.config;
  // The pod-level series carry the pause-container convention: container "POD".
  const podLabels = ['POD', v.sandbox.id, '', 'POD', sb.namespace, sb.name];
  const metrics: Metric[] = [];
  const net = v.network;
  for (const i of net?.interfaces ?? []) {
    const l = [...podLabels, i.name];
    metrics.push(
      ...metric('container_network_receive_bytes_total', net!.atNs, l, i.rxBytes),
      ...metric('container_network_transmit_bytes_total', net!.atNs, l, i.txBytes),
      ...metric('container_network_receive_errors_total', net!.atNs, l, i.rxErrors),
      ...metric('container_network_transmit_errors_total', net!.atNs, l, i.txErrors),
    );
  }
  if (v.processCount) metrics.push(...metric('container_processes', v.processCount.atNs, podLabels, v.processCount.count));
  const containerMetrics = v.containers.map((cs) => {
    const c = cs.container;
    const l = [c.config.name, c.id, c.config.image, c.reservedName, sb.namespace, sb.name];
    const m: Metric[] = [];
    // CRI metric values are integers: CPU seconds lose their fraction, as in other runtimes.
    if (cs.cpu) m.push(...metric('container_cpu_usage_seconds_total', cs.cpu.atNs, l, cs.cpu.usageCoreNs / 1e9));
    if (cs.memory) {
      const at = cs.memory.atNs;
      m.push(
        ...metric('container_memory_usage_bytes', at, l, cs.memory.usageBytes),
        ...metric('container_memory_working_set_bytes', at, l, cs.memory.workingSetBytes),
        ...metric('container_memory_rss', at, l, cs.memory.rssBytes),
        ...metric('container_memory_failures_total', at, [...l, 'pgfault', 'container'], cs.memory.pageFaults),
        ...metric('container_memory_failures_total', at, [...l, 'pgmajfault', 'container'], cs.memory.majorPageFaults),
      );
    }
    if (cs.writableLayer) {
      const fs = cs.writableLayer;
      m.push(...metric('container_fs_usage_bytes', fs.atNs, [...l, fs.mountpoint], fs.usedBytes), ...metric('container_fs_inodes_total', fs.atNs, [...l, fs.mountpoint], fs.inodesUsed));
    }
    return { containerId: c.id, metrics: m };
  });
  return { podSandboxId: v.sandbox.id, metrics, containerMetrics };
}

export async function listPodSandboxMetrics(svc: Services): Promise<ListPodSandboxMetricsResponse> {
  return { podMetrics: (await svc.stats.sandboxes({})).map(podMetrics) };
}

// Pods per message of the streaming variant.
const BATCH = 50;

export async function streamPodSandboxMetrics(svc: Services, _req: unknown, send: (m: unknown) => Promise<void>): Promise<void> {
  const items = (await svc.stats.sandboxes({})).map(podMetrics);
  for (let i = 0; i < items.length; i += BATCH) await send({ podSandboxMetrics: items.slice(i, i + BATCH) });
}
