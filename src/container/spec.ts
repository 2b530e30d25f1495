// Builds the OCI runtime spec (config.json) of a container from its CRI
// config, its pod and its image. Pure: everything read from the host
// (devices, seccomp files, capabilities) is resolved by the caller, which
// keeps the rules testable without a container.
import type { OciImageConfig } from '../image/provider.js';
import type { Sandbox, SandboxPaths } from '../sandbox/types.js';
import type { ContainerConfig, Resources } from './types.js';
import type { ResolvedUser } from './user.js';
import type { SeccompProfile } from './seccomp.js';
import { invalidArgument } from '../util/errors.js';
import { containerCgroupPath } from '../cgroup/host.js';

export interface HostDevice {
  containerPath: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  permissions: string;
}

export interface SpecInput {
  id: string;
  config: ContainerConfig;
  sandbox: Sandbox;
  sandboxPaths: SandboxPaths;
  image: OciImageConfig;
  rootfs: string;
  user: ResolvedUser;
  capabilities: string[];
  seccomp?: SeccompProfile;
  devices: HostDevice[];
  /** Resolved host paths of config.mounts, same order. */
  mountSources: string[];
  /** Path of the PID namespace to join; undefined: a new one ('' for the host's). */
  pidNamespace?: string;
  oomScoreAdj?: number;
  /** Host hostname, used with host networking. */
  hostHostname: string;
  /** False on hosts without cgroup v2 (unified resources are refused earlier). */
  swapSupported: boolean;
}

export const DEFAULT_MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** kubelet's rule: command replaces Entrypoint (and drops Cmd); args alone replace Cmd. */
export function processArgs(config: Pick<ContainerConfig, 'command' | 'args'>, image: OciImageConfig): string[] {
  const entrypoint = image.Entrypoint ?? [];
  const cmd = image.Cmd ?? [];
  let argv: string[];
  if (config.command.length > 0) argv = [...config.command, ...config.args];
  else if (config.args.length > 0) argv = [...entrypoint, ...config.args];
  else argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw invalidArgument('config.command: no command given and the image has no Entrypoint or Cmd');
  return argv;
}

/** Image env first, request env overriding by key; PATH defaulted. */
export function processEnv(config: Pick<ContainerConfig, 'envs'>, image: OciImageConfig, home?: string): string[] {
  const env = new Map<string, string>();
  for (const e of image.Env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  for (const { key, value } of config.envs) {
    if (key === '') throw invalidArgument('config.envs: an environment variable has an empty key');
    env.set(key, value);
  }
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  if (!env.has('HOME')) env.set('HOME', home || '/');
  return [...env].map(([k, v]) => `${k}=${v}`);
}

export function resourcesSpec(r: Resources | undefined, swapSupported: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { devices: [{ allow: false, access: 'rwm' }] };
  if (!r) return out;
  const cpu: Record<string, unknown> = {};
  if (r.cpuShares > 0) cpu.shares = r.cpuShares;
  if (r.cpuQuota !== 0) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod > 0) cpu.period = r.cpuPeriod;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length) out.cpu = cpu;
  const memory: Record<string, unknown> = {};
  if (r.memoryLimitInBytes > 0) {
    memory.limit = r.memoryLimitInBytes;
    if (swapSupported) memory.swap = r.memorySwapLimitInBytes > 0 ? r.memorySwapLimitInBytes : r.memoryLimitInBytes;
  }
  if (Object.keys(memory).length) out.memory = memory;
  if (r.hugepageLimits.length) out.hugepageLimits = r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, limit: h.limit }));
  if (Object.keys(r.unified).length) out.unified = { ...r.unified };
  return out;
}

/** Refuses resource values no kernel accepts, naming the field. */
export function validateResources(r: Resources | undefined, field = 'linux.resources'): void {
  if (!r) return;
  const nonNegative: (keyof Resources)[] = ['cpuPeriod', 'cpuShares', 'memoryLimitInBytes', 'memorySwapLimitInBytes'];
  for (const k of nonNegative) {
    if ((r[k] as number) < 0) throw invalidArgument(`${field}.${k} must not be negative (got ${r[k]})`);
  }
  if (r.cpuPeriod > 0 && (r.cpuPeriod < 1000 || r.cpuPeriod > 1_000_000)) {
    throw invalidArgument(`${field}.cpuPeriod must be between 1000 and 1000000 microseconds (got ${r.cpuPeriod})`);
  }
  if (r.cpuQuota > 0 && r.cpuQuota < 1000) throw invalidArgument(`${field}.cpuQuota must be at least 1000 microseconds (got ${r.cpuQuota})`);
  if (r.memoryLimitInBytes > 0 && r.memoryLimitInBytes < 4 * 1024 * 1024) {
    throw invalidArgument(`${field}.memoryLimitInBytes must be at least 4 MiB (got ${r.memoryLimitInBytes})`);
  }
  if (r.memorySwapLimitInBytes > 0 && r.memoryLimitInBytes > 0 && r.memorySwapLimitInBytes < r.memoryLimitInBytes) {
    throw invalidArgument(`${field}.memorySwapLimitInBytes must not be below memoryLimitInBytes`);
  }
  if (r.oomScoreAdj < -1000 || r.oomScoreAdj > 1000) throw invalidArgument(`${field}.oomScoreAdj must be within [-1000, 1000]`);
  const cpuset = /^(\d+(-\d+)?)(,\d+(-\d+)?)*$/;
  if (r.cpusetCpus && !cpuset.test(r.cpusetCpus)) throw invalidArgument(`${field}.cpusetCpus "${r.cpusetCpus}" is not a CPU list`);
  if (r.cpusetMems && !cpuset.test(r.cpusetMems)) throw invalidArgument(`${field}.cpusetMems "${r.cpusetMems}" is not a node list`);
  for (const h of r.hugepageLimits) {
    if (!/^\d+(KB|MB|GB)$/.test(h.pageSize)) throw invalidArgument(`${field}.hugepageLimits: page size "${h.pageSize}" is not like 2MB`);
  }
}

function bind(destination: string, source: string, options: string[]): Record<string, unknown> {
  return { destination, type: 'bind', source, options: ['rbind', ...options] };
}

export function buildSpec(inp: SpecInput): Record<string, unknown> {
  const { config, sandbox, sandboxPaths: sp, image, user } = inp;
  const sec = config.security;
  const ns = sandbox.config.namespaces;
  const hostNet = ns.network === 'NODE';
  const hostIpc = ns.ipc === 'NODE';
  const privileged = sec.privileged;

  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] },
  ];
  const userDests = new Set(config.mounts.map((m) => m.containerPath));
  const podFiles: [string, string, boolean][] = [
    ['/etc/hosts', sp.hosts, false],
    ['/etc/resolv.conf', sp.resolvConf, false],
    ['/etc/hostname', sp.hostname, false],
    ['/dev/shm', hostIpc ? '/dev/shm' : sp.shm, false],
  ];
  for (const [dest, src] of podFiles) {
    if (userDests.has(dest)) continue;
    const opts = dest === '/dev/shm' ? ['rw', 'nosuid', 'nodev', 'noexec'] : [sec.readonlyRootfs ? 'ro' : 'rw'];
    mounts.push(bind(dest, src, opts));
  }
  let rootfsPropagation: string | undefined;
  config.mounts.forEach((m, i) => {
    const prop = m.propagation === 'private' ? 'rprivate' : m.propagation;
    if (m.propagation === 'rshared') rootfsPropagation = 'rshared';
    else if (m.propagation === 'rslave' && rootfsPropagation !== 'rshared') rootfsPropagation = 'rslave';
    mounts.push(bind(m.containerPath, inp.mountSources[i]!, [m.readonly ? 'ro' : 'rw', prop]));
  });

  const namespaces: { type: string; path?: string }[] = [{ type: 'mount' }];
  if (!hostNet) {
    namespaces.push({ type: 'network', path: sp.netns }, { type: 'uts', path: sp.utsns });
  }
  if (!hostIpc) namespaces.push({ type: 'ipc', path: sp.ipcns });
  if (inp.pidNamespace === undefined) namespaces.push({ type: 'pid' });
  else if (inp.pidNamespace !== '') namespaces.push({ type: 'pid', path: inp.pidNamespace });

  const resources = resourcesSpec(config.resources, inp.swapSupported);
  const linuxDevices = inp.devices.map((d) => ({
    path: d.containerPath, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: 0, gid: 0,
  }));
  const deviceRules = resources.devices as Record<string, unknown>[];
  if (privileged) deviceRules.push({ allow: true, access: 'rwm' });
  for (const d of inp.devices) {
    deviceRules.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.permissions || 'rwm' });
  }

  const caps = inp.capabilities;
  const linux: Record<string, unknown> = {
    namespaces,
    cgroupsPath: containerCgroupPath(sandbox.cgroupParent, inp.id),
    resources,
    devices: linuxDevices,
    maskedPaths: privileged ? [] : (sec.maskedPaths.length ? sec.maskedPaths : DEFAULT_MASKED_PATHS),
    readonlyPaths: privileged ? [] : (sec.readonlyPaths.length ? sec.readonlyPaths : DEFAULT_READONLY_PATHS),
  };
  if (Object.keys(sandbox.config.sysctls).length) linux.sysctl = { ...sandbox.config.sysctls };
  if (inp.seccomp) linux.seccomp = inp.seccomp;
  if (rootfsPropagation) linux.rootfsPropagation = rootfsPropagation;

  const process: Record<string, unknown> = {
    terminal: config.tty,
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    args: processArgs(config, image),
    env: processEnv(config, image, user.home),
    cwd: config.workingDir || image.WorkingDir || '/',
    capabilities: { bounding: caps, effective: caps, permitted: caps },
    noNewPrivileges: sec.noNewPrivs,
  };
  if (inp.oomScoreAdj !== undefined) process.oomScoreAdj = inp.oomScoreAdj;

  const spec: Record<string, unknown> = {
    ociVersion: '1.0.2',
    process,
    root: { path: inp.rootfs, readonly: sec.readonlyRootfs },
    mounts,
    annotations: { ...config.annotations, 'io.kubernetes.cri.sandbox-id': sandbox.id, 'io.kubernetes.cri.container-name': config.name },
    linux,
  };
  if (!hostNet) spec.hostname = sandbox.config.hostname || inp.hostHostname;
  return spec;
}
