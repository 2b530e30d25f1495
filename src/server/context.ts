import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { RuntimeHandlers } from '../runtime/handlers.js';
import type { NetworkStatusSource } from '../network/status.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EventBus } from '../events/bus.js';
import type { ImageService } from '../image/service.js';
import type { SandboxService } from '../sandbox/service.js';
import type { ContainerService } from '../container/service.js';
import type { Pods } from '../pod/pods.js';
import type { PodCheckpoints } from '../pod/checkpoint.js';
import type { StreamingTarget } from '../streaming/target.js';
import type { StatsService } from '../stats/service.js';
import type { StreamingUrls } from '../streaming/server.js';

/**
 * The domain services a CRI handler may use. Handlers convert CRI messages to
 * calls on these and back; the services never see gRPC types.
 */
export interface Services {
  config: Config;
  log: Logger;
  version: string;
  handlers: RuntimeHandlers;
  network: NetworkStatusSource;
  metrics: Metrics;
  events: EventBus;
  /** Image store and registry client; also the ImageProvider containers use. */
  images: ImageService;
  sandboxes: SandboxService;
  containers: ContainerService;
  /** Stopping and removing a pod: its containers, then its sandbox. */
  pods: Pods;
  /** CheckpointPod and RestorePod. */
  podCheckpoints: PodCheckpoints;
  /** CPU, memory, writable layer, network and process stats of containers and pods. */
  stats: StatsService;
  /** Exec, attach and port-forward into containers and pods, for the streaming server. */
  streamingTarget: StreamingTarget;
  /** The streaming server Exec, Attach and PortForward hand out URLs of. */
  streaming: StreamingUrls;
}
