// What every part of the container service works with (service.ts builds
// one set and hands it to each).
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ImageProvider } from '../image/provider.js';
import type { SandboxService } from '../sandbox/service.js';
import type { KeyedLock } from '../util/keyed-lock.js';
import type { ContainerStore } from './store.js';
import type { ContainerPaths } from './paths.js';
import type { ContainerRuntimes } from './runtimes.js';
import type { WritableLayerDirs } from './layer-dirs.js';
import type { SeccompNotifier } from './seccomp-notifier.js';

export interface ContainerParts {
  log: Logger;
  metrics: Metrics;
  store: ContainerStore;
  paths: ContainerPaths;
  runtimes: ContainerRuntimes;
  sandboxes: SandboxService;
  images: ImageProvider;
  /** One lock per container: creation holds it until the runtime is done. */
  locks: KeyedLock;
  layerDirs: WritableLayerDirs;
  /** Counts and answers denials of containers that opted into the seccomp notifier. */
  notifier: SeccompNotifier;
}
