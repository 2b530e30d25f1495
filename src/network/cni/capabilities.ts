// runtimeConfig values Berth offers plugins: port mappings, bandwidth (from
// the kubernetes.io annotations) and DNS. Plugins get the ones whose
// capability they declare.
import { isIP } from 'node:net';
import type { PodNetworkRequest } from '../pod-network.js';

const INGRESS = 'kubernetes.io/ingress-bandwidth';
const EGRESS = 'kubernetes.io/egress-bandwidth';
/** Burst the bandwidth plugin gets, as kubelet's CNI code used: effectively unlimited. */
const BURST = 2 ** 31 - 1;

const SUFFIX: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** A Kubernetes quantity ("10M", "1Gi", "500k") as a number; throws on anything else. */
export function parseQuantity(q: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)\s*$/.exec(q);
  if (!m || !(m[2] in SUFFIX)) throw new Error(`"${q}" is not a quantity such as 10M or 1Gi`);
  return Math.round(Number(m[1]) * SUFFIX[m[2]]);
}

export interface Bandwidth {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

/** Bits per second from the pod's annotations, or undefined when it sets none. */
export function bandwidthFromAnnotations(ann: Record<string, string>): Bandwidth | undefined {
  const bw: Bandwidth = {};
  if (ann[INGRESS]) {
    bw.ingressRate = parseQuantity(ann[INGRESS]);
    bw.ingressBurst = BURST;
  }
  if (ann[EGRESS]) {
    bw.egressRate = parseQuantity(ann[EGRESS]);
    bw.egressBurst = BURST;
  }
  return Object.keys(bw).length ? bw : undefined;
}

export function capabilityArgs(req: PodNetworkRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Plugins pass these to iptables: a value it refuses would fail ADD after
  // the pod's interface exists, and DEL (which reads the same values) too.
  for (const [i, p] of req.portMappings.entries()) {
    const valid = (n: number, min: number): boolean => Number.isInteger(n) && n >= min && n <= 65535;
    if (!valid(p.containerPort, 1) || !valid(p.hostPort, 0)) throw new Error(`port_mappings[${i}]: ports must be within 1-65535 (host port 0 for none)`);
    if (p.hostIp && !isIP(p.hostIp)) throw new Error(`port_mappings[${i}].host_ip is not an IP address`);
  }
  // A mapping without a host port only documents the container port: nothing to forward.
  const ports = req.portMappings.filter((p) => p.hostPort > 0).map((p) => ({
    hostPort: p.hostPort,
    containerPort: p.containerPort,
    protocol: p.protocol.toLowerCase(),
    hostIP: p.hostIp,
  }));
  if (ports.length) out.portMappings = ports;
  const bw = bandwidthFromAnnotations(req.annotations);
  if (bw) out.bandwidth = bw;
  if (req.dns && (req.dns.servers.length || req.dns.searches.length || req.dns.options.length)) {
    out.dns = { servers: req.dns.servers, searches: req.dns.searches, options: req.dns.options };
  }
  return out;
}

/** CNI_ARGS kubelet-style: IgnoreUnknown first so plugins that know none of them still run. */
export function podArgs(req: PodNetworkRequest): [string, string][] {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', req.namespace],
    ['K8S_POD_NAME', req.name],
    ['K8S_POD_INFRA_CONTAINER_ID', req.sandboxId],
    ['K8S_POD_UID', req.uid],
  ];
}
