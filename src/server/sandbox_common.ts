// Conversions between CRI pod sandbox messages and the sandbox domain.
import type { PodSandboxConfig__Output } from '../cri/generated/runtime/v1/PodSandboxConfig.js';
import type { NamespaceOption__Output } from '../cri/generated/runtime/v1/NamespaceOption.js';
import type { SecurityProfile__Output } from '../cri/generated/runtime/v1/SecurityProfile.js';
import type { PodSandbox } from '../cri/generated/runtime/v1/PodSandbox.js';
import type { Sandbox, SandboxConfig, NamespaceMode, SecurityProfile } from '../sandbox/types.js';
import type { SELinuxOption__Output } from '../cri/generated/runtime/v1/SELinuxOption.js';
import type { DNSConfig__Output } from '../cri/generated/runtime/v1/DNSConfig.js';
import { echo } from '../util/echo.js';
import {
  absPath, bad, enumValue, id, int, ip, list, matching, name, namespace, port, str, stringMap, uid, LIMITS, MAX_ID,
} from './validate.js';
import { linuxResources } from './resources.js';

/** Milliseconds since the epoch → CRI nanoseconds as a decimal string. */
export const toNanos = (ms: number): string => (ms > 0 ? BigInt(Math.round(ms * 1e6)).toString() : '0');

export const NAMESPACE_MODES = ['POD', 'CONTAINER', 'NODE', 'TARGET'] as const;

/** A namespace mode among those `allowed` for this namespace; an unknown value is refused, not read as POD. */
export function namespaceMode(field: string, v: unknown, allowed: readonly NamespaceMode[]): NamespaceMode {
  const m = enumValue(field, v, NAMESPACE_MODES);
  if (!allowed.includes(m)) throw bad(field, `${m} is not allowed here (${allowed.join(', ')})`);
  return m;
}

const PROFILE_TYPES = ['RuntimeDefault', 'Unconfined', 'Localhost'] as const;

/** A seccomp or AppArmor profile: the SecurityProfile message, or the deprecated string form. */
export function securityProfile(p: SecurityProfile__Output | null | undefined, legacyPath: unknown, field: string, legacyField: string): SecurityProfile | undefined {
  if (p) {
    const type = enumValue(`${field}.profile_type`, p.profileType, PROFILE_TYPES);
    const ref = str(`${field}.localhost_ref`, p.localhostRef, { max: LIMITS.path });
    if (type === 'Localhost') absPath(`${field}.localhost_ref`, ref, { required: true, noDotDot: true });
    return { type, localhostRef: type === 'Localhost' ? ref : '' };
  }
  // The deprecated string form: "runtime/default", "unconfined", "localhost/<path>".
  const legacy = str(legacyField, legacyPath, { max: LIMITS.path });
  if (legacy === '') return undefined;
  if (legacy === 'unconfined') return { type: 'Unconfined', localhostRef: '' };
  if (legacy === 'runtime/default' || legacy === 'docker/default') return { type: 'RuntimeDefault', localhostRef: '' };
  if (legacy.startsWith('localhost/')) {
    return { type: 'Localhost', localhostRef: absPath(legacyField, legacy.slice('localhost/'.length), { required: true, noDotDot: true }) };
  }
  throw bad(legacyField, `${echo(legacy)} is not runtime/default, unconfined or localhost/<path>`);
}

/** SELinux has no effect on this host (none is enabled); the fields are still bounded. */
export function selinuxOptions(o: SELinuxOption__Output | null | undefined, field: string): void {
  if (!o) return;
  for (const k of ['user', 'role', 'type', 'level'] as const) str(`${field}.${k}`, o[k], { max: LIMITS.short, printable: true });
}

/** User and group IDs: 0 to 2^32-2. */
export function idValue(field: string, v: { value: string } | null | undefined): number | undefined {
  return v ? int(`${field}.value`, v.value, { min: 0, max: MAX_ID }) : undefined;
}

export function supplementalGroups(field: string, v: string[] | undefined): number[] {
  return list(field, v, LIMITS.list, (g, f) => int(f, g, { min: 0, max: MAX_ID }));
}

/** Merge is what berthd does; Strict is not offered (RuntimeFeatures says so), so it is refused rather than ignored. */
export function supplementalGroupsPolicy(field: string, v: unknown): void {
  if (enumValue(field, v, ['Merge', 'Strict'] as const) === 'Strict') throw bad(field, 'Strict is not supported by this runtime');
}

/** User namespaces are not offered: only the host's (NODE) is accepted, without mappings. */
export function usernsOptions(o: NamespaceOption__Output['usernsOptions'] | undefined, field: string): void {
  if (!o) return;
  const mode = enumValue(`${field}.mode`, o.mode, NAMESPACE_MODES);
  if (mode !== 'NODE') throw bad(`${field}.mode`, `${mode}: user namespaces are not supported by this runtime`);
  if (o.uids.length || o.gids.length) throw bad(field, 'ID mappings need a user namespace, which this runtime does not support');
}

export function namespaceOptions(o: NamespaceOption__Output | null | undefined, field: string): { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode; targetId: string } {
  usernsOptions(o?.usernsOptions, `${field}.userns_options`);
  const pid = o ? namespaceMode(`${field}.pid`, o.pid, ['POD', 'CONTAINER', 'NODE']) : 'CONTAINER';
  return {
    network: o ? namespaceMode(`${field}.network`, o.network, ['POD', 'NODE']) : 'POD',
    pid,
    ipc: o ? namespaceMode(`${field}.ipc`, o.ipc, ['POD', 'NODE']) : 'POD',
    targetId: id(`${field}.target_id`, o?.targetId, false),
  };
}

// Search domains and resolver options become words of resolv.conf lines:
// anything but these characters could end a line or start a new directive.
const SEARCH = /^[A-Za-z0-9_.-]+$/;
const OPTION = /^[A-Za-z0-9_.:+-]+$/;

export function dnsConfig(d: DNSConfig__Output | null | undefined, field: string): SandboxConfig['dns'] {
  if (!d) return undefined;
  const servers = list(`${field}.servers`, d.servers, LIMITS.dnsServers, (s, f) => ip(f, s, true));
  const searches = list(`${field}.searches`, d.searches, LIMITS.dnsEntries, (s, f) => matching(f, str(f, s, { required: true, max: LIMITS.dnsEntry }), SEARCH, 'a domain name'));
  if (searches.join(' ').length > 2048) throw bad(`${field}.searches`, 'hold more than 2048 characters');
  const options = list(`${field}.options`, d.options, LIMITS.dnsEntries, (s, f) => matching(f, str(f, s, { required: true, max: LIMITS.short }), OPTION, 'a resolver option such as ndots:5'));
  return { servers, searches, options };
}

// Kubernetes' sysctl names: segments of lowercase letters, digits, '-' and
// '_' separated by '.' or '/' (an interface name with a dot is written with
// slashes). No empty segment and no "..": the name becomes a path under /proc/sys.
const SYSCTL = /^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/;

export function sysctls(m: Record<string, string> | undefined, field: string): Record<string, string> {
  const entries = Object.entries(m ?? {});
  if (entries.length > 256) throw bad(field, `has ${entries.length} entries; at most 256 are allowed`);
  for (const [k, v] of entries) {
    matching(`${field} key`, str(`${field} key`, k, { required: true, max: LIMITS.name }), SYSCTL, 'a sysctl name such as net.ipv4.ip_forward');
    str(`${field}[${echo(k, 64)}]`, v, { required: true, max: LIMITS.sysctlValue, printable: true });
  }
  return m ?? {};
}

const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

export function sandboxConfig(c: PodSandboxConfig__Output | null, field = 'config'): SandboxConfig {
  if (!c) throw bad(field, 'is required');
  if (!c.metadata) throw bad(`${field}.metadata`, 'is required');
  const linux = c.linux;
  const sec = linux?.securityContext;
  const sf = `${field}.linux.security_context`;
  if (sec) {
    selinuxOptions(sec.selinuxOptions, `${sf}.selinux_options`);
    idValue(`${sf}.run_as_user`, sec.runAsUser);
    idValue(`${sf}.run_as_group`, sec.runAsGroup);
    supplementalGroups(`${sf}.supplemental_groups`, sec.supplementalGroups);
    supplementalGroupsPolicy(`${sf}.supplemental_groups_policy`, sec.supplementalGroupsPolicy);
    securityProfile(sec.apparmor, '', `${sf}.apparmor`, `${sf}.apparmor`);
  }
  linuxResources(linux?.overhead, `${field}.linux.overhead`);
  linuxResources(linux?.resources, `${field}.linux.resources`);
  return {
    name: name(`${field}.metadata.name`, c.metadata.name),
    uid: uid(`${field}.metadata.uid`, c.metadata.uid),
    namespace: namespace(`${field}.metadata.namespace`, c.metadata.namespace),
    attempt: c.metadata.attempt,
    hostname: str(`${field}.hostname`, c.hostname, { max: 63, printable: true }),
    logDirectory: absPath(`${field}.log_directory`, c.logDirectory, { noDotDot: true }),
    dns: dnsConfig(c.dnsConfig, `${field}.dns_config`),
    portMappings: list(`${field}.port_mappings`, c.portMappings, LIMITS.list, (p, f) => ({
      protocol: enumValue(`${f}.protocol`, p.protocol, PROTOCOLS),
      containerPort: port(`${f}.container_port`, p.containerPort, 1),
      hostPort: port(`${f}.host_port`, p.hostPort, 0),
      hostIp: ip(`${f}.host_ip`, p.hostIp),
    })),
    labels: stringMap(`${field}.labels`, c.labels),
    annotations: stringMap(`${field}.annotations`, c.annotations),
    cgroupParent: absPath(`${field}.linux.cgroup_parent`, linux?.cgroupParent, { noDotDot: true }),
    namespaces: namespaceOptions(sec?.namespaceOptions, `${sf}.namespace_options`),
    sysctls: sysctls(linux?.sysctls, `${field}.linux.sysctls`),
    privileged: sec?.privileged ?? false,
    seccomp: securityProfile(sec?.seccomp, sec?.seccompProfilePath, `${sf}.seccomp`, `${sf}.seccomp_profile_path`),
  };
}

/**
 * The pod's config as CreateContainer and PullImage repeat it, for
 * information only: berthd uses its own record of the pod. Clients send an
 * empty one (the CRI test suite does); one that holds a pod is checked as
 * RunPodSandbox would.
 */
export function informationalSandboxConfig(c: PodSandboxConfig__Output | null): void {
  if (c?.metadata) sandboxConfig(c, 'sandbox_config');
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
