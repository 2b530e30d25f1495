// cAdvisor-compatible metrics kubelet scrapes through CRI when it takes pod
// metrics from the runtime (PodAndContainerStatsFromCRI): the descriptors,
// and per pod the values built from the same stats as ListPodSandboxStats.
import type { ListMetricDescriptorsResponse } from '../cri/generated/runtime/v1/ListMetricDescriptorsResponse.js';
import type { MetricDescriptor } from '../cri/generated/runtime/v1/MetricDescriptor.js';
import type { Services } from './context.js';

export const CONTAINER_LABELS = ['container', 'id', 'image', 'name', 'namespace', 'pod'];
export const NETWORK_LABELS = [...CONTAINER_LABELS, 'interface'];

export const DESCRIPTORS: (MetricDescriptor & { type: 'COUNTER' | 'GAUGE' })[] = [
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative cpu time consumed in seconds.', labelKeys: CONTAINER_LABELS, type: 'COUNTER' },
  { name: 'container_memory_usage_bytes', help: 'Current memory usage in bytes, including all memory regardless of when it was accessed.', labelKeys: CONTAINER_LABELS, type: 'GAUGE' },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', labelKeys: CONTAINER_LABELS, type: 'GAUGE' },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', labelKeys: CONTAINER_LABELS, type: 'GAUGE' },
  { name: 'container_memory_failures_total', help: 'Cumulative count of memory allocation failures (page faults).', labelKeys: [...CONTAINER_LABELS, 'failure_type', 'scope'], type: 'COUNTER' },
  { name: 'container_fs_usage_bytes', help: 'Number of bytes that are consumed by the container on this filesystem.', labelKeys: [...CONTAINER_LABELS, 'device'], type: 'GAUGE' },
  { name: 'container_fs_inodes_total', help: 'Number of inodes used by the container on this filesystem.', labelKeys: [...CONTAINER_LABELS, 'device'], type: 'GAUGE' },
  { name: 'container_processes', help: 'Number of processes running inside the container.', labelKeys: CONTAINER_LABELS, type: 'GAUGE' },
  { name: 'container_network_receive_bytes_total', help: 'Cumulative count of bytes received.', labelKeys: NETWORK_LABELS, type: 'COUNTER' },
  { name: 'container_network_transmit_bytes_total', help: 'Cumulative count of bytes transmitted.', labelKeys: NETWORK_LABELS, type: 'COUNTER' },
  { name: 'container_network_receive_errors_total', help: 'Cumulative count of errors encountered while receiving.', labelKeys: NETWORK_LABELS, type: 'COUNTER' },
  { name: 'container_network_transmit_errors_total', help: 'Cumulative count of errors encountered while transmitting.', labelKeys: NETWORK_LABELS, type: 'COUNTER' },
];

export async function listMetricDescriptors(_svc: Services): Promise<ListMetricDescriptorsResponse> {
  return { descriptors: DESCRIPTORS.map(({ name, help, labelKeys }) => ({ name, help, labelKeys })) };
}
