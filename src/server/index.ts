// The routing table from CRI method names to the operations in this folder.
// A method missing here answers UNIMPLEMENTED at the edge (src/cri/server.ts).
import type { HandlerTable, UnaryHandler, StreamHandler, CallContext } from '../cri/server.js';
import type { Services } from './context.js';
import { version } from './version.js';
import { status } from './status.js';
import { runtimeConfig } from './runtime_config.js';
import { updateRuntimeConfig } from './update_runtime_config.js';
import { imagePull } from './image_pull.js';
import { listImages, streamImages } from './image_list.js';
import { imageStatus } from './image_status.js';
import { imageRemove } from './image_remove.js';
import { imageFsInfo } from './image_fs_info.js';
import { runPodSandbox } from './sandbox_run.js';
import { stopPodSandbox } from './sandbox_stop.js';
import { removePodSandbox } from './sandbox_remove.js';
import { podSandboxStatus } from './sandbox_status.js';
import { listPodSandbox, streamPodSandboxes } from './sandbox_list.js';
import { createContainer } from './container_create.js';
import { startContainer } from './container_start.js';
import { stopContainer } from './container_stop.js';
import { removeContainer } from './container_remove.js';
import { containerStatus } from './container_status.js';
import { listContainers, streamContainers } from './container_list.js';
import { updateContainerResources } from './container_update_resources.js';
import { reopenContainerLog } from './container_reopen_log.js';
import { execSync } from './container_exec_sync.js';
import { containerStats } from './container_stats.js';
import { listContainerStats, streamContainerStats } from './container_stats_list.js';
import { podSandboxStats } from './sandbox_stats.js';
import { listPodSandboxStats, streamPodSandboxStats } from './sandbox_stats_list.js';
import { listMetricDescriptors } from './metric_descriptors.js';
import { listPodSandboxMetrics, streamPodSandboxMetrics } from './sandbox_metrics.js';
import { getContainerEvents } from './container_events.js';
import { exec } from './container_exec.js';
import { attach } from './container_attach.js';
import { portForward } from './sandbox_port_forward.js';
import { updatePodSandboxResources } from './sandbox_update_resources.js';
import { checkpointContainer } from './container_checkpoint.js';
import { checkpointPod, restorePod } from './sandbox_checkpoint.js';

type Unary = (svc: Services, req: never, ctx: CallContext) => Promise<unknown>;
type Stream = (svc: Services, req: never, send: (m: unknown) => Promise<void>, ctx: CallContext) => Promise<void>;

const UNARY: Record<string, Unary> = {
  Version: version,
  Status: status,
  RuntimeConfig: runtimeConfig,
  UpdateRuntimeConfig: updateRuntimeConfig,
  PullImage: imagePull,
  ListImages: listImages,
  ImageStatus: imageStatus,
  RemoveImage: imageRemove,
  ImageFsInfo: imageFsInfo,
  RunPodSandbox: runPodSandbox,
  StopPodSandbox: stopPodSandbox,
  RemovePodSandbox: removePodSandbox,
  PodSandboxStatus: podSandboxStatus,
  ListPodSandbox: listPodSandbox,
  CreateContainer: createContainer,
  StartContainer: startContainer,
  StopContainer: stopContainer,
  RemoveContainer: removeContainer,
  ContainerStatus: containerStatus,
  ListContainers: listContainers,
  UpdateContainerResources: updateContainerResources,
  ReopenContainerLog: reopenContainerLog,
  ExecSync: execSync,
  ContainerStats: containerStats,
  ListContainerStats: listContainerStats,
  PodSandboxStats: podSandboxStats,
  ListPodSandboxStats: listPodSandboxStats,
  ListMetricDescriptors: listMetricDescriptors,
  ListPodSandboxMetrics: listPodSandboxMetrics,
  Exec: exec,
  Attach: attach,
  PortForward: portForward,
  UpdatePodSandboxResources: updatePodSandboxResources,
  CheckpointContainer: checkpointContainer,
  CheckpointPod: checkpointPod,
  RestorePod: restorePod,
};

const STREAM: Record<string, Stream> = {
  StreamImages: streamImages,
  StreamPodSandboxes: streamPodSandboxes,
  StreamContainers: streamContainers,
  StreamContainerStats: streamContainerStats,
  StreamPodSandboxStats: streamPodSandboxStats,
  GetContainerEvents: getContainerEvents,
  StreamPodSandboxMetrics: streamPodSandboxMetrics,
};

export function buildHandlers(svc: Services): HandlerTable {
  const unary: Record<string, UnaryHandler> = {};
  for (const [name, fn] of Object.entries(UNARY)) unary[name] = (req, ctx) => fn(svc, req, ctx);
  const stream: Record<string, StreamHandler> = {};
  for (const [name, fn] of Object.entries(STREAM)) stream[name] = (req, send, ctx) => fn(svc, req, send, ctx);
  return { unary, stream };
}
