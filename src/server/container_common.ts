// Conversions between CRI container messages and the container domain.
import type { ContainerConfig__Output } from '../cri/generated/runtime/v1/ContainerConfig.js';
import type { LinuxContainerResources } from '../cri/generated/runtime/v1/LinuxContainerResources.js';
import type { ContainerStatus } from '../cri/generated/runtime/v1/ContainerStatus.js';
import type { Container as CriContainer } from '../cri/generated/runtime/v1/Container.js';
import type { ContainerFilter__Output } from '../cri/generated/runtime/v1/ContainerFilter.js';
import type { ImageSpec__Output } from '../cri/generated/runtime/v1/ImageSpec.js';
import type { LinuxContainerSecurityContext__Output } from '../cri/generated/runtime/v1/LinuxContainerSecurityContext.js';
import type { Container, ContainerConfig, ContainerSecurity, ContainerState, Propagation, Resources } from '../container/types.js';
import type { ContainerFilter } from '../container/service.js';
import { isCapabilityName } from '../container/capabilities.js';
import { asImageId, parseReference, MAX_REFERENCE, type Reference } from '../image/reference.js';
import { BerthError } from '../util/errors.js';
import { echo } from '../util/echo.js';
import {
  absPath, argv, bad, enumValue, id, list, matching, name, relPath, str, stringMap, LIMITS,
} from './validate.js';
import { linuxResources } from './resources.js';
import { criStopSignal, stopSignal } from './signals.js';
import { idValue, namespaceMode, securityProfile, selinuxOptions, supplementalGroups, supplementalGroupsPolicy, toNanos, usernsOptions } from './sandbox_common.js';

export { linuxResources as resources };

const PROPAGATION: Record<string, Propagation> = {
  PROPAGATION_PRIVATE: 'private', PROPAGATION_HOST_TO_CONTAINER: 'rslave', PROPAGATION_BIDIRECTIONAL: 'rshared',
};
const PROPAGATION_NAMES = Object.keys(PROPAGATION);
const PROPAGATION_BACK: Record<Propagation, 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL'> = {
  private: 'PROPAGATION_PRIVATE', rslave: 'PROPAGATION_HOST_TO_CONTAINER', rshared: 'PROPAGATION_BIDIRECTIONAL',
};

function criResources(r: Resources): LinuxContainerResources {
  return {
    cpuPeriod: String(r.cpuPeriod), cpuQuota: String(r.cpuQuota), cpuShares: String(r.cpuShares),
    memoryLimitInBytes: String(r.memoryLimitInBytes), memorySwapLimitInBytes: String(r.memorySwapLimitInBytes),
    oomScoreAdj: String(r.oomScoreAdj), cpusetCpus: r.cpusetCpus, cpusetMems: r.cpusetMems,
    hugepageLimits: r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, limit: String(h.limit) })), unified: r.unified,
  };
}

/** `s` parsed as an image reference; INVALID_ARGUMENT naming `field` when it is not one. */
export function reference(field: string, s: string): Reference {
  try {
    return parseReference(s);
  } catch (err) {
    throw err instanceof BerthError ? bad(field, err.message) : err;
  }
}

/**
 * An image as a request names it: an image ID (or a prefix of at least 12
 * hex characters) or a reference such as registry/repo:tag@digest.
 */
export function imageName(field: string, v: unknown, required = true): string {
  const s = str(field, v, { required, max: MAX_REFERENCE, printable: true });
  if (s !== '' && !asImageId(s)) reference(field, s);
  return s;
}

/** An ImageSpec: the image named as above; its other fields only bounded (berthd has no use for them). */
export function imageSpec(spec: ImageSpec__Output | null | undefined, field: string, required = true): string {
  if (!spec) {
    if (required) throw bad(`${field}.image`, 'is required');
    return '';
  }
  stringMap(`${field}.annotations`, spec.annotations);
  str(`${field}.user_specified_image`, spec.userSpecifiedImage, { max: MAX_REFERENCE, printable: true });
  str(`${field}.runtime_handler`, spec.runtimeHandler, { max: LIMITS.short, printable: true });
  str(`${field}.image_ref`, spec.imageRef, { max: MAX_REFERENCE, printable: true });
  return imageName(`${field}.image`, spec.image, required);
}

/** A capability as CRI names it (with or without CAP_, any case), or ALL. */
function capability(f: string, c: string): string {
  const s = str(f, c, { required: true, max: 64, printable: true });
  if (s.toUpperCase() !== 'ALL' && !isCapabilityName(s)) throw bad(f, `${echo(s)} is not a Linux capability`);
  return s;
}

// Environment keys: anything execve can carry as KEY=value, so no "=" and no NUL.
const ENV_KEY = /^[^=\0]+$/;

function security(sec: LinuxContainerSecurityContext__Output | null | undefined, field: string): ContainerSecurity {
  const ns = sec?.namespaceOptions;
  const nf = `${field}.namespace_options`;
  let namespaces: ContainerSecurity['namespaces'];
  if (ns) {
    usernsOptions(ns.usernsOptions, `${nf}.userns_options`);
    namespaceMode(`${nf}.network`, ns.network, ['POD', 'NODE']);
    namespaceMode(`${nf}.ipc`, ns.ipc, ['POD', 'NODE']);
    const pid = namespaceMode(`${nf}.pid`, ns.pid, ['POD', 'CONTAINER', 'NODE', 'TARGET']);
    const targetId = id(`${nf}.target_id`, ns.targetId, pid === 'TARGET');
    namespaces = { pid, targetId };
  }
  selinuxOptions(sec?.selinuxOptions, `${field}.selinux_options`);
  supplementalGroupsPolicy(`${field}.supplemental_groups_policy`, sec?.supplementalGroupsPolicy ?? 'Merge');
  const mode = enumValue(`${field}.cgroup_mount_mode`, sec?.cgroupMountMode ?? 'CGROUP_MOUNT_MODE_UNSPECIFIED',
    ['CGROUP_MOUNT_MODE_UNSPECIFIED', 'CGROUP_MOUNT_MODE_READ_ONLY', 'CGROUP_MOUNT_MODE_WRITABLE'] as const);
  if (mode === 'CGROUP_MOUNT_MODE_WRITABLE') throw bad(`${field}.cgroup_mount_mode`, 'a writable cgroup mount is not supported by this runtime');
  const caps = sec?.capabilities;
  const cf = `${field}.capabilities`;
  const add = list(`${cf}.add_capabilities`, caps?.addCapabilities, 64, (c, f) => capability(f, c));
  const drop = list(`${cf}.drop_capabilities`, caps?.dropCapabilities, 64, (c, f) => capability(f, c));
  list(`${cf}.add_ambient_capabilities`, caps?.addAmbientCapabilities, 64, (c, f) => capability(f, c));
  if (caps?.addAmbientCapabilities.length) throw bad(`${cf}.add_ambient_capabilities`, 'ambient capabilities are not supported by this runtime');
  const username = str(`${field}.run_as_username`, sec?.runAsUsername, { max: LIMITS.short, printable: true });
  if (username.includes(':')) throw bad(`${field}.run_as_username`, `${echo(username)} is not a user name`);
  // The deprecated string form of AppArmor: only "no profile" forms are
  // meaningful on this host (AppArmor is refused when a profile is named).
  const legacyArmor = str(`${field}.apparmor_profile`, sec?.apparmorProfile, { max: LIMITS.path, printable: true });
  let apparmor = sec?.apparmor ? securityProfile(sec.apparmor, '', `${field}.apparmor`, `${field}.apparmor`) : undefined;
  if (!apparmor && legacyArmor) {
    if (legacyArmor === 'unconfined') apparmor = { type: 'Unconfined', localhostRef: '' };
    else if (legacyArmor === 'runtime/default') apparmor = { type: 'RuntimeDefault', localhostRef: '' };
    else if (legacyArmor.startsWith('localhost/')) apparmor = { type: 'Localhost', localhostRef: legacyArmor.slice('localhost/'.length) };
    else throw bad(`${field}.apparmor_profile`, `${echo(legacyArmor)} is not runtime/default, unconfined or localhost/<name>`);
  }
  return {
    capabilities: { add, drop },
    privileged: sec?.privileged ?? false,
    namespaces,
    runAsUser: idValue(`${field}.run_as_user`, sec?.runAsUser),
    runAsGroup: idValue(`${field}.run_as_group`, sec?.runAsGroup),
    runAsUsername: username,
    readonlyRootfs: sec?.readonlyRootfs ?? false,
    supplementalGroups: supplementalGroups(`${field}.supplemental_groups`, sec?.supplementalGroups),
    noNewPrivs: sec?.noNewPrivs ?? false,
    maskedPaths: list(`${field}.masked_paths`, sec?.maskedPaths, LIMITS.list, (p, f) => absPath(f, p, { required: true })),
    readonlyPaths: list(`${field}.readonly_paths`, sec?.readonlyPaths, LIMITS.list, (p, f) => absPath(f, p, { required: true })),
    seccomp: securityProfile(sec?.seccomp, sec?.seccompProfilePath, `${field}.seccomp`, `${field}.seccomp_profile_path`),
    apparmor,
  };
}

/** A CreateContainer config; `imageOptional` for RestorePod, whose archives name their images. */
export function containerConfig(c: ContainerConfig__Output | null, field = 'config', imageOptional = false): ContainerConfig {
  if (!c) throw bad(field, 'is required');
  if (!c.metadata) throw bad(`${field}.metadata`, 'is required');
  const budget = { bytes: 0 };
  const command = argv(`${field}.command`, c.command, budget);
  const args = argv(`${field}.args`, c.args, budget);
  const envs = list(`${field}.envs`, c.envs, LIMITS.args, (e, f) => {
    const key = matching(`${f}.key`, str(`${f}.key`, e.key, { required: true, max: LIMITS.arg }), ENV_KEY, 'an environment variable name (no "=")');
    const raw = Buffer.from(e.value ?? []);
    if (raw.includes(0)) throw bad(`${f}.value`, 'contains a NUL byte');
    const value = raw.toString('utf8');
    if (Buffer.byteLength(key) + raw.length + 1 > LIMITS.arg) throw bad(f, `${echo(key, 64)}=… is longer than ${LIMITS.arg} bytes`);
    budget.bytes += Buffer.byteLength(key) + raw.length + 2;
    if (budget.bytes > LIMITS.argvBytes) throw bad(`${field}.envs`, `arguments and environment hold more than ${LIMITS.argvBytes} bytes`);
    return { key, value };
  });
  const sec = c.linux?.securityContext;
  return {
    name: name(`${field}.metadata.name`, c.metadata.name),
    attempt: c.metadata.attempt,
    // An absolute path names a checkpoint archive to restore from (as CRI-O and containerd take it).
    image: c.image?.image?.startsWith('/') ? absPath(`${field}.image.image`, c.image.image, { required: true }) : imageSpec(c.image, `${field}.image`, !imageOptional),
    command,
    args,
    workingDir: absPath(`${field}.working_dir`, c.workingDir),
    envs,
    mounts: list(`${field}.mounts`, c.mounts, LIMITS.list, (m, f) => {
      if (m.uidMappings.length || m.gidMappings.length) throw bad(f, 'ID-mapped mounts need user namespaces, which this runtime does not support');
      if (m.recursiveReadOnly) throw bad(`${f}.recursive_read_only`, 'recursive read-only mounts are not supported by this runtime');
      list(`${f}.mount_options`, m.mountOptions, 64, (o, of) => str(of, o, { max: LIMITS.short }));
      if (m.mountOptions.length) throw bad(`${f}.mount_options`, 'mount options are not supported by this runtime');
      const containerPath = absPath(`${f}.container_path`, m.containerPath, { required: true });
      const imageSubPath = str(`${f}.image_sub_path`, m.imageSubPath, { max: LIMITS.path });
      if (m.image && m.image.image) {
        // Image volumes are read-only by definition (KEP-4639), whatever the request says.
        return { containerPath, hostPath: '', readonly: true, propagation: 'private' as const, image: imageSpec(m.image, `${f}.image`), imageSubPath };
      }
      if (imageSubPath) throw bad(`${f}.image_sub_path`, 'is only for a mount of an image (image volume)');
      return {
        containerPath,
        hostPath: absPath(`${f}.host_path`, m.hostPath, { required: true }),
        readonly: m.readonly,
        propagation: PROPAGATION[enumValue(`${f}.propagation`, m.propagation, PROPAGATION_NAMES)]!,
      };
    }),
    devices: list(`${field}.devices`, c.devices, LIMITS.list, (d, f) => ({
      containerPath: absPath(`${f}.container_path`, d.containerPath, { required: true }),
      hostPath: absPath(`${f}.host_path`, d.hostPath, { required: true }),
      permissions: matching(`${f}.permissions`, str(`${f}.permissions`, d.permissions, { max: 3 }), /^(?!.*(.).*\1)[rwm]+$/, 'made of r, w and m'),
    })),
    cdiDevices: list(`${field}.CDI_devices`, c.CDIDevices, LIMITS.list, (d, f) => str(`${f}.name`, d.name, { required: true, max: LIMITS.short })),
    labels: stringMap(`${field}.labels`, c.labels),
    annotations: stringMap(`${field}.annotations`, c.annotations),
    logPath: relPath(`${field}.log_path`, c.logPath),
    stdin: c.stdin,
    stdinOnce: c.stdinOnce,
    tty: c.tty,
    resources: linuxResources(c.linux?.resources, `${field}.linux.resources`),
    security: security(sec, `${field}.linux.security_context`),
    stopSignal: stopSignal(`${field}.stop_signal`, c.stopSignal),
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
  const sig = criStopSignal(c.stopSignal);
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

const CONTAINER_STATES = ['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_UNKNOWN'] as const;

export function containerFilter(f: ContainerFilter__Output | null): ContainerFilter {
  return {
    id: id('filter.id', f?.id, false) || undefined,
    state: f?.state ? containerState(enumValue('filter.state.state', f.state.state, CONTAINER_STATES)) : undefined,
    sandboxId: id('filter.pod_sandbox_id', f?.podSandboxId, false) || undefined,
    labels: stringMap('filter.label_selector', f?.labelSelector),
  };
}
