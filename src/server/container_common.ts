// Conversions between CRI container messages and the container domain.
import type { ContainerConfig__Output } from '../cri/generated/runtime/v1/ContainerConfig.js';
import type { LinuxContainerResources__Output } from '../cri/generated/runtime/v1/LinuxContainerResources.js';
import type { LinuxContainerResources } from '../cri/generated/runtime/v1/LinuxContainerResources.js';
import type { ContainerStatus } from '../cri/generated/runtime/v1/ContainerStatus.js';
import type { Container as CriContainer } from '../cri/generated/runtime/v1/Container.js';
import type { ContainerFilter__Output } from '../cri/generated/runtime/v1/ContainerFilter.js';
import type { Container, ContainerConfig, ContainerState, Propagation, Resources } from '../container/types.js';
import type { ContainerFilter } from '../container/service.js';
import { invalidArgument } from '../util/errors.js';
import { namespaceMode, securityProfile, toNanos } from './sandbox_common.js';

const num = (s: string | undefined, field: string): number => {
  const n = Number(s ?? '0');
  if (!Number.isSafeInteger(n)) throw invalidArgument(`${field} "${s}" is out of range`);
  return n;
};

const PROPAGATION: Record<string, Propagation> = {
  PROPAGATION_PRIVATE: 'private', PROPAGATION_HOST_TO_CONTAINER: 'rslave', PROPAGATION_BIDIRECTIONAL: 'rshared',
};
const PROPAGATION_BACK: Record<Propagation, 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL'> = {
  private: 'PROPAGATION_PRIVATE', rslave: 'PROPAGATION_HOST_TO_CONTAINER', rshared: 'PROPAGATION_BIDIRECTIONAL',
};

export function resources(r: LinuxContainerResources__Output | null | undefined, field: string): Resources | undefined {
  if (!r) return undefined;
  return {
    cpuPeriod: num(r.cpuPeriod, `${field}.cpu_period`),
    cpuQuota: num(r.cpuQuota, `${field}.cpu_quota`),
    cpuShares: num(r.cpuShares, `${field}.cpu_shares`),
    memoryLimitInBytes: num(r.memoryLimitInBytes, `${field}.memory_limit_in_bytes`),
    memorySwapLimitInBytes: num(r.memorySwapLimitInBytes, `${field}.memory_swap_limit_in_bytes`),
    oomScoreAdj: num(r.oomScoreAdj, `${field}.oom_score_adj`),
    cpusetCpus: r.cpusetCpus,
    cpusetMems: r.cpusetMems,
    hugepageLimits: r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, limit: num(h.limit, `${field}.hugepage_limits.limit`) })),
    unified: r.unified,
  };
}

function criResources(r: Resources): LinuxContainerResources {
  return {
    cpuPeriod: String(r.cpuPeriod), cpuQuota: String(r.cpuQuota), cpuShares: String(r.cpuShares),
    memoryLimitInBytes: String(r.memoryLimitInBytes), memorySwapLimitInBytes: String(r.memorySwapLimitInBytes),
    oomScoreAdj: String(r.oomScoreAdj), cpusetCpus: r.cpusetCpus, cpusetMems: r.cpusetMems,
    hugepageLimits: r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, limit: String(h.limit) })), unified: r.unified,
  };
}

export function containerConfig(c: ContainerConfig__Output | null): ContainerConfig {
  if (!c) throw invalidArgument('config is required');
  if (!c.metadata) throw invalidArgument('config.metadata is required');
  const sec = c.linux?.securityContext;
  const ns = sec?.namespaceOptions;
  return {
    name: c.metadata.name,
    attempt: c.metadata.attempt,
    image: c.image?.image ?? '',
    command: c.command,
    args: c.args,
    workingDir: c.workingDir,
    envs: c.envs.map((e) => ({ key: e.key, value: Buffer.from(e.value).toString('utf8') })),
    mounts: c.mounts.map((m) => {
      // Image volumes are read-only by definition (KEP-4639), whatever the request says.
      if (m.image?.image) return { containerPath: m.containerPath, hostPath: m.hostPath, readonly: true, propagation: 'private', image: m.image.image, imageSubPath: m.imageSubPath };
      return { containerPath: m.containerPath, hostPath: m.hostPath, readonly: m.readonly, propagation: PROPAGATION[m.propagation] ?? 'private' };
    }),
    devices: c.devices.map((d) => ({ containerPath: d.containerPath, hostPath: d.hostPath, permissions: d.permissions })),
    cdiDevices: c.CDIDevices.map((d) => d.name),
    labels: c.labels,
    annotations: c.annotations,
    logPath: c.logPath,
    stdin: c.stdin,
    stdinOnce: c.stdinOnce,
    tty: c.tty,
    resources: resources(c.linux?.resources, 'config.linux.resources'),
    security: {
      capabilities: { add: sec?.capabilities?.addCapabilities ?? [], drop: sec?.capabilities?.dropCapabilities ?? [] },
      privileged: sec?.privileged ?? false,
      namespaces: ns ? { pid: namespaceMode(ns.pid), targetId: ns.targetId } : undefined,
      runAsUser: sec?.runAsUser ? num(sec.runAsUser.value, 'config.linux.security_context.run_as_user') : undefined,
      runAsGroup: sec?.runAsGroup ? num(sec.runAsGroup.value, 'config.linux.security_context.run_as_group') : undefined,
      runAsUsername: sec?.runAsUsername ?? '',
      readonlyRootfs: sec?.readonlyRootfs ?? false,
      supplementalGroups: (sec?.supplementalGroups ?? []).map((g) => num(g, 'config.linux.security_context.supplemental_groups')),
      noNewPrivs: sec?.noNewPrivs ?? false,
      maskedPaths: sec?.maskedPaths ?? [],
      readonlyPaths: sec?.readonlyPaths ?? [],
      seccomp: securityProfile(sec?.seccomp, sec?.seccompProfilePath),
      apparmor: sec?.apparmor ? { type: sec.apparmor.profileType as 'RuntimeDefault', localhostRef: sec.apparmor.localhostRef } : undefined,
    },
    stopSignal: c.stopSignal && c.stopSignal !== 'SIGNAL_RUNTIME_DEFAULT' ? c.stopSignal.replace(/^SIGNAL_/, '') : '',
  };
}

const STATE: Record<ContainerState, CriContainer['state']> = {
  CREATED: 'CONTAINER_CREATED', RUNNING: 'CONTAINER_RUNNING', EXITED: 'CONTAINER_EXITED', UNKNOWN: 'CONTAINER_UNKNOWN',
};

export function containerState(s: string): ContainerState {
  return s.replace('CONTAINER_', '') as ContainerState;
}

export function criContainer(c: Container): CriContainer {
  return {
    id: c.id,
    podSandboxId: c.sandboxId,
    metadata: { name: c.config.name, attempt: c.config.attempt },
    image: { image: c.config.image },
    imageRef: c.imageRef,
    imageId: c.imageId,
    state: STATE[c.state],
    createdAt: toNanos(c.createdAt),
    labels: c.config.labels,
    annotations: c.config.annotations,
  };
}

export function containerStatus(c: Container): ContainerStatus {
  const sig = (/^SIG[A-Z0-9]+$/.test(c.stopSignal) ? `SIGNAL_${c.stopSignal}` : 'SIGNAL_RUNTIME_DEFAULT') as ContainerStatus['stopSignal'];
  return {
    id: c.id,
    metadata: { name: c.config.name, attempt: c.config.attempt },
    state: STATE[c.state],
    createdAt: toNanos(c.createdAt),
    startedAt: toNanos(c.startedAt),
    finishedAt: toNanos(c.finishedAt),
    exitCode: c.exitCode,
    image: { image: c.config.image },
    imageRef: c.imageRef,
    imageId: c.imageId,
    reason: c.reason,
    message: c.message,
    labels: c.config.labels,
    annotations: c.config.annotations,
    mounts: c.config.mounts.map((m) => ({
      containerPath: m.containerPath, hostPath: m.hostPath, readonly: m.readonly, propagation: PROPAGATION_BACK[m.propagation],
      ...(m.image ? { image: { image: m.image }, imageSubPath: m.imageSubPath ?? '' } : {}),
    })),
    logPath: c.logPath,
    resources: c.resources ? { linux: criResources(c.resources) } : undefined,
    user: { linux: { uid: String(c.user.uid), gid: String(c.user.gid), supplementalGroups: c.user.additionalGids.map(String) } },
    stopSignal: sig,
  };
}

export function containerFilter(f: ContainerFilter__Output | null): ContainerFilter {
  return {
    id: f?.id || undefined,
    state: f?.state ? containerState(f.state.state) : undefined,
    sandboxId: f?.podSandboxId || undefined,
    labels: f?.labelSelector,
  };
}
