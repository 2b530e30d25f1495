// Domain shapes of a pod sandbox. The CRI edge converts to and from these.
import type { CgroupLimits } from '../cgroup/limits.js';

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

export interface SecurityProfile {
  type: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostRef: string;
}

export interface SandboxConfig {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
  hostname: string;
  logDirectory: string;
  dns?: { servers: string[]; searches: string[]; options: string[] };
  portMappings: { protocol: 'TCP' | 'UDP' | 'SCTP'; containerPort: number; hostPort: number; hostIp: string }[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  cgroupParent: string;
  namespaces: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode; targetId: string };
  sysctls: Record<string, string>;
  privileged: boolean;
  seccomp?: SecurityProfile;
}

export type SandboxState = 'READY' | 'NOTREADY';

export interface Sandbox {
  id: string;
  config: SandboxConfig;
  /** Resolved handler name (never empty). */
  handler: string;
  createdAt: number;
  state: SandboxState;
  /** `creating` until every step of RunPodSandbox is done; a restart removes what is left in that phase. */
  phase: 'creating' | 'created';
  /** Cgroup parent containers of this pod are placed under. */
  cgroupParent: string;
  /** True when berthd derived cgroupParent (and so removes it). */
  ownsCgroup: boolean;
  ips: string[];
  /** PID of the process holding a shared PID namespace, when the pod has one. */
  infraPid?: number;
  /** The limits UpdatePodSandboxResources last set on the pod's cgroup. */
  resources?: CgroupLimits;
}

/** Paths of a sandbox's volatile files (namespaces, /dev/shm, DNS files). */
export interface SandboxPaths {
  dir: string;
  netns: string;
  ipcns: string;
  utsns: string;
  pidns: string;
  shm: string;
  hosts: string;
  resolvConf: string;
  hostname: string;
}
