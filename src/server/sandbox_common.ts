// Conversions between CRI pod sandbox messages and the sandbox domain.
import type { PodSandboxConfig__Output } from '../cri/generated/runtime/v1/PodSandboxConfig.js';
import type { NamespaceOption__Output } from '../cri/generated/runtime/v1/NamespaceOption.js';
import type { SecurityProfile__Output } from '../cri/generated/runtime/v1/SecurityProfile.js';
import type { PodSandbox } from '../cri/generated/runtime/v1/PodSandbox.js';
import type { Sandbox, SandboxConfig, NamespaceMode, SecurityProfile } from '../sandbox/types.js';
import { invalidArgument } from '../util/errors.js';

/** Milliseconds since the epoch → CRI nanoseconds as a decimal string. */
export const toNanos = (ms: number): string => (ms > 0 ? BigInt(Math.round(ms * 1e6)).toString() : '0');

export function namespaceMode(v: string | undefined): NamespaceMode {
  return (v as NamespaceMode | undefined) ?? 'POD';
}

export function securityProfile(p: SecurityProfile__Output | null | undefined, legacyPath = ''): SecurityProfile | undefined {
  if (p) return { type: p.profileType as SecurityProfile['type'], localhostRef: p.localhostRef };
  // The deprecated string form: "runtime/default", "unconfined", "localhost/<path>".
  if (legacyPath === '') return undefined;
  if (legacyPath === 'unconfined') return { type: 'Unconfined', localhostRef: '' };
  if (legacyPath === 'runtime/default' || legacyPath === 'docker/default') return { type: 'RuntimeDefault', localhostRef: '' };
  if (legacyPath.startsWith('localhost/')) return { type: 'Localhost', localhostRef: legacyPath.slice('localhost/'.length) };
  throw invalidArgument(`seccomp_profile_path "${legacyPath}" is not runtime/default, unconfined or localhost/<path>`);
}

export function namespaceOptions(o: NamespaceOption__Output | null | undefined): { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode; targetId: string } {
  return { network: namespaceMode(o?.network), pid: namespaceMode(o?.pid ?? 'CONTAINER'), ipc: namespaceMode(o?.ipc), targetId: o?.targetId ?? '' };
}

export function sandboxConfig(c: PodSandboxConfig__Output | null): SandboxConfig {
  if (!c) throw invalidArgument('config is required');
  if (!c.metadata) throw invalidArgument('config.metadata is required');
  const sec = c.linux?.securityContext;
  return {
    name: c.metadata.name,
    uid: c.metadata.uid,
    namespace: c.metadata.namespace,
    attempt: c.metadata.attempt,
    hostname: c.hostname,
    logDirectory: c.logDirectory,
    dns: c.dnsConfig ? { servers: c.dnsConfig.servers, searches: c.dnsConfig.searches, options: c.dnsConfig.options } : undefined,
    portMappings: c.portMappings.map((p) => ({ protocol: p.protocol as 'TCP', containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIp })),
    labels: c.labels,
    annotations: c.annotations,
    cgroupParent: c.linux?.cgroupParent ?? '',
    namespaces: namespaceOptions(sec?.namespaceOptions),
    sysctls: c.linux?.sysctls ?? {},
    privileged: sec?.privileged ?? false,
    seccomp: securityProfile(sec?.seccomp, sec?.seccompProfilePath),
  };
}

export function podSandboxMetadata(sb: Sandbox) {
  const c = sb.config;
  return { name: c.name, uid: c.uid, namespace: c.namespace, attempt: c.attempt };
}

export function podSandbox(sb: Sandbox, defaultHandler: string): PodSandbox {
  return {
    id: sb.id,
    metadata: podSandboxMetadata(sb),
    state: sb.state === 'READY' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
    createdAt: toNanos(sb.createdAt),
    labels: sb.config.labels,
    annotations: sb.config.annotations,
    runtimeHandler: sb.handler === defaultHandler ? '' : sb.handler,
  };
}
