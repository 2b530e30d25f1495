// Domain shapes of a container. The CRI edge converts to and from these.
import type { NamespaceMode, SecurityProfile } from '../sandbox/types.js';
import type { NotifierPlan } from './seccomp-notifier.js';

export type Propagation = 'private' | 'rslave' | 'rshared';

export interface MountRequest {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  propagation: Propagation;
  /** An image volume: the image reference (kubelet's image_ref), its root or `imageSubPath` mounted read-only. */
  image?: string;
  imageSubPath?: string;
}

export interface DeviceRequest {
  containerPath: string;
  hostPath: string;
  permissions: string;
}

export interface Resources {
  cpuPeriod: number;
  cpuQuota: number;
  cpuShares: number;
  memoryLimitInBytes: number;
  memorySwapLimitInBytes: number;
  oomScoreAdj: number;
  cpusetCpus: string;
  cpusetMems: string;
  hugepageLimits: { pageSize: string; limit: number }[];
  unified: Record<string, string>;
}

export interface ContainerSecurity {
  capabilities: { add: string[]; drop: string[] };
  privileged: boolean;
  namespaces?: { pid: NamespaceMode; targetId: string };
  runAsUser?: number;
  runAsGroup?: number;
  runAsUsername: string;
  readonlyRootfs: boolean;
  supplementalGroups: number[];
  noNewPrivs: boolean;
  maskedPaths: string[];
  readonlyPaths: string[];
  seccomp?: SecurityProfile;
  apparmor?: SecurityProfile;
}

export interface ContainerConfig {
  name: string;
  attempt: number;
  image: string;
  command: string[];
  args: string[];
  workingDir: string;
  envs: { key: string; value: string }[];
  mounts: MountRequest[];
  devices: DeviceRequest[];
  /** CDI devices by qualified name (CDI_devices); `cdi.k8s.io/` annotations add more. Absent in records before CDI. */
  cdiDevices?: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  logPath: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  resources?: Resources;
  security: ContainerSecurity;
  /** Signal name such as SIGTERM; empty means the image's or SIGTERM. */
  stopSignal: string;
}

export type ContainerState = 'CREATED' | 'RUNNING' | 'EXITED' | 'UNKNOWN';

export interface Container {
  id: string;
  sandboxId: string;
  /** The reserved name: metadata name, pod name, namespace, uid and attempt. */
  reservedName: string;
  config: ContainerConfig;
  imageId: string;
  imageRef: string;
  /** Absolute log path, or empty when the pod has no log directory. */
  logPath: string;
  state: ContainerState;
  /**
   * preparing: before CreateContainer answers (not listed); creating:
   * answered, the runtime still at work (in memory only); created: the
   * runtime is done (the only phase a record is written in).
   */
  phase: 'preparing' | 'creating' | 'created';
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  pid: number;
  stopSignal: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  resources?: Resources;
  /** Host paths a berthd before 0.2 made shared for rshared/rslave mounts; undone on remove (berthd no longer changes host propagation). */
  sharedMounts: string[];
  /** How the seccomp notifier answers this container's denials, when it opted in. */
  seccompNotifier?: NotifierPlan;
  /** The checkpoint archive the container is restored from (StartContainer restores instead of starting). */
  restoreFrom?: string;
  /** The images of image-volume mounts, each held under a holder of its own. */
  imageVolumes?: { mount: number; imageId: string; holder: string }[];
}
