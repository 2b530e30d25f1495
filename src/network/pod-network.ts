import type { NetworkStatusSource } from './status.js';

// The seam between sandboxes and CNI. The sandbox service calls setUp after it
// has created the pod's network namespace and tearDown when stopping the pod.

export interface PortMapping {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  containerPort: number;
  hostPort: number;
  hostIp: string;
}

export interface PodNetworkRequest {
  sandboxId: string;
  name: string;
  namespace: string;
  uid: string;
  /** Path of the pinned network namespace (bind mount). */
  netnsPath: string;
  portMappings: PortMapping[];
  annotations: Record<string, string>;
  dns?: { servers: string[]; searches: string[]; options: string[] };
  cgroupParent?: string;
}

export interface PodNetworkResult {
  /** Primary IP first; IPv4 and IPv6 as plain addresses without prefix length. */
  ips: string[];
  /** The interface the pod's traffic uses, usually eth0. */
  interfaceName: string;
}

export interface PodNetwork extends NetworkStatusSource {
  setUp(req: PodNetworkRequest): Promise<PodNetworkResult>;
  /** Idempotent: works when the namespace is already gone or after a daemon restart. */
  tearDown(req: PodNetworkRequest): Promise<void>;
  /** Asks the network whether the pod's attachment is still as set up (CNI CHECK); resolves with a word, throws a problem. */
  check?(req: PodNetworkRequest): Promise<string>;
}
