// Structured requests for the fuzzer: a valid request for every RPC (the
// baseline the others start from), requests built to be invalid field by
// field (the answer must be an error naming the field, never OK), and
// hostile values put into random fields of a baseline through the schema's
// reflection (any answer but UNKNOWN, INTERNAL or silence).
import protobuf from 'protobufjs';
import { protoPath } from '../../src/cri/proto-path.js';
import type { Rng } from './bytes.js';
import type { Canary } from './host.js';

/** What the requests may name: the fuzzer's pod, container and image, and the canary on the host. */
export interface Targets {
  podId: string;
  containerId: string;
  image: string;
  logDir: string;
  canary: Canary;
}

export interface StructuredCase {
  method: string;
  request: Record<string, unknown>;
  /** Built to be invalid: OK is a failure. */
  invalid: boolean;
  /** For invalid cases: text the error must contain (the field's name). */
  field?: string;
  /** Codes acceptable for this invalid case (default INVALID_ARGUMENT). */
  codes?: number[];
  label: string;
}

let seq = 0;
const unique = (): string => `f${process.pid}-${seq++}`;
const HEX = (c: string): string => c.repeat(64);
const MIB = 1024 * 1024;

function podConfig(t: Targets): Record<string, unknown> {
  const n = unique();
  return { metadata: { name: n, namespace: 'fuzz', uid: `uid-${n}`, attempt: 0 }, hostname: n, logDirectory: t.logDir };
}

function containerConfig(t: Targets): Record<string, unknown> {
  return { metadata: { name: unique(), attempt: 0 }, image: { image: t.image }, command: ['sleep', '3600'], logPath: `${unique()}.log` };
}

/**
 * A valid request for each RPC. Destructive ones name objects that do not
 * exist (a full, unknown ID): the fuzzer's own pod and container are for
 * reading, and image removal must not take its image.
 */
export function baseline(method: string, t: Targets): Record<string, unknown> {
  const unknownId = HEX('e');
  switch (method) {
    case 'Version': return { version: 'v1' };
    case 'RunPodSandbox': return { config: podConfig(t) };
    case 'StopPodSandbox': case 'RemovePodSandbox': return { podSandboxId: unknownId };
    case 'PodSandboxStatus': return { podSandboxId: t.podId, verbose: true };
    case 'PodSandboxStats': return { podSandboxId: t.podId };
    case 'ListPodSandbox': case 'StreamPodSandboxes': return { filter: { id: t.podId.slice(0, 12), state: { state: 'SANDBOX_READY' }, labelSelector: { a: 'b' } } };
    case 'CreateContainer': return { podSandboxId: t.podId, config: containerConfig(t) };
    case 'StartContainer': case 'RemoveContainer': return { containerId: unknownId };
    case 'StopContainer': return { containerId: unknownId, timeout: '1' };
    case 'ContainerStatus': return { containerId: t.containerId, verbose: true };
    case 'ContainerStats': case 'ReopenContainerLog': return { containerId: t.containerId };
    case 'ListContainers': case 'StreamContainers':
      return { filter: { id: t.containerId.slice(0, 12), state: { state: 'CONTAINER_RUNNING' }, podSandboxId: t.podId, labelSelector: {} } };
    case 'ListContainerStats': case 'StreamContainerStats': return { filter: { id: t.containerId, podSandboxId: t.podId, labelSelector: {} } };
    case 'ListPodSandboxStats': case 'StreamPodSandboxStats': return { filter: { id: t.podId, labelSelector: {} } };
    case 'UpdateContainerResources': return { containerId: t.containerId, linux: { cpuShares: '512', memoryLimitInBytes: String(512 * MIB) } };
    case 'ExecSync': return { containerId: t.containerId, cmd: ['true'], timeout: '10' };
    case 'Exec': return { containerId: t.containerId, cmd: ['true'], stdout: true };
    case 'Attach': return { containerId: t.containerId, stdout: true };
    case 'PortForward': return { podSandboxId: t.podId, port: [80] };
    case 'UpdateRuntimeConfig': return { runtimeConfig: { networkConfig: { podCidr: '' } } };
    case 'Status': return { verbose: true };
    case 'ListImages': case 'StreamImages': return { filter: { image: { image: t.image } } };
    case 'ImageStatus': return { image: { image: t.image }, verbose: true };
    case 'PullImage': return { image: { image: t.image } };
    case 'RemoveImage': return { image: { image: '127.0.0.1:1/fuzz/none:absent' } };
    case 'CheckpointContainer': return { containerId: t.containerId, location: '/nonexistent/checkpoint.tar' };
    case 'CheckpointPod': return { podSandboxId: t.podId, outputPath: '/nonexistent' };
    case 'RestorePod': return { checkpointPath: '/nonexistent' };
    case 'UpdatePodSandboxResources': return { podSandboxId: t.podId };
    default: return {};
  }
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const keys = path.split('.');
  let o: Record<string, unknown> | unknown[] = obj;
  for (const k of keys.slice(0, -1)) {
    const next = (o as Record<string, unknown>)[k];
    if (next === undefined || next === null) (o as Record<string, unknown>)[k] = /^\d+$/.test(keys[keys.indexOf(k) + 1] ?? '') ? [{}] : {};
    o = (o as Record<string, unknown>)[k] as Record<string, unknown>;
  }
  (o as Record<string, unknown>)[keys.at(-1)!] = value;
  return obj;
}

const big = (n: number, c = 'a'): string => c.repeat(n);
const manyEntries = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
const IA = [3];

/** [method, path in the request (camelCase), value, field the error must name, codes]. */
type Row = [string, string, unknown, string, number[]?];

function rows(t: Targets): Row[] {
  const c = t.canary;
  const sc = 'config.linux.securityContext';
  const scf = 'config.linux.security_context';
  const ns = `${sc}.namespaceOptions`;
  const nsf = `${scf}.namespace_options`;
  const r: Row[] = [];
  const ids = (method: string, key: string, field: string): void => {
    for (const v of ['', 'zz', 'ABCDEF', big(65, 'a'), big(128 * 1024, 'a'), '../../etc', 'a\0b', `${HEX('a')}\n`]) r.push([method, key, v, field]);
  };
  for (const m of ['StopPodSandbox', 'RemovePodSandbox', 'PodSandboxStatus', 'PodSandboxStats', 'PortForward']) ids(m, 'podSandboxId', 'pod_sandbox_id');
  for (const m of ['StartContainer', 'StopContainer', 'RemoveContainer', 'ContainerStatus', 'ContainerStats', 'ReopenContainerLog', 'UpdateContainerResources', 'ExecSync', 'Exec', 'Attach']) {
    ids(m, 'containerId', 'container_id');
  }
  ids('CreateContainer', 'podSandboxId', 'pod_sandbox_id');
  for (const m of ['ListContainers', 'StreamContainers', 'ListContainerStats', 'StreamContainerStats']) {
    r.push([m, 'filter.id', 'zz', 'filter.id'], [m, 'filter.podSandboxId', big(128 * 1024), 'filter.pod_sandbox_id'], [m, 'filter.labelSelector', manyEntries(2000), 'filter.label_selector']);
  }
  for (const m of ['ListContainers', 'StreamContainers']) r.push([m, 'filter.state.state', 99, 'filter.state.state'], [m, 'filter.state.state', -1, 'filter.state.state']);
  for (const m of ['ListPodSandbox', 'StreamPodSandboxes']) {
    r.push([m, 'filter.state.state', 99, 'filter.state.state'], [m, 'filter.id', 'not-hex', 'filter.id'], [m, 'filter.labelSelector', { '': 'x' }, 'filter.label_selector']);
  }
  for (const m of ['ListPodSandboxStats', 'StreamPodSandboxStats']) r.push([m, 'filter.id', big(100, 'f'), 'filter.id'], [m, 'filter.labelSelector', { k: big(300 * 1024) }, 'filter.label_selector']);

  // Names, references and paths with sizes and characters they cannot have.
  const names = ['', big(254), big(1024 * 1024), 'bad name', 'a;b=c', 'x\ny', '-lead', 'trail-', 'a_b', 'ü', '../x', 'a/b'];
  for (const v of names) r.push(['RunPodSandbox', 'config.metadata.name', v, 'config.metadata.name'], ['CreateContainer', 'config.metadata.name', v, 'config.metadata.name']);
  for (const v of ['', 'UPPER', big(64), 'a.b', 'x\0']) r.push(['RunPodSandbox', 'config.metadata.namespace', v, 'config.metadata.namespace']);
  for (const v of ['', 'a b', 'a;b', big(300)]) r.push(['RunPodSandbox', 'config.metadata.uid', v, 'config.metadata.uid']);
  for (const v of [big(64), 'a b', 'a\nb', '-x']) r.push(['RunPodSandbox', 'config.hostname', v, 'config.hostname']);
  for (const v of ['relative/logs', '/a/../../etc', '/x\0y', `/${big(5000)}`]) r.push(['RunPodSandbox', 'config.logDirectory', v, 'config.log_directory']);
  r.push(['RunPodSandbox', 'runtimeHandler', big(1000), 'runtime_handler'], ['RunPodSandbox', 'runtimeHandler', 'no-such-handler', 'runtime_handler']);
  // None of these parses: a reference that does would be pulled (from a registry that is not this host).
  for (const v of ['', 'localhost:99999/x', 'localhost:0/x', 'upper/CASE', big(5000), 'x\0y', 'a b', '[zz]:5000/x', 'a//b', 'x:', '127.0.0.1:5000/x@sha256:12']) {
    r.push(['CreateContainer', 'config.image.image', v, 'config.image.image'], ['ImageStatus', 'image.image', v, 'image.image'], ['PullImage', 'image.image', v, 'image.image']);
    if (v) r.push(['RemoveImage', 'image.image', v, 'image.image'], ['ListImages', 'filter.image.image', v, 'filter.image.image']);
  }
  // An image ID names a stored image; it is nothing to pull.
  r.push(['PullImage', 'image.image', HEX('c'), 'image.image'], ['PullImage', 'image.image', `sha256:${HEX('c')}`, 'image.image']);

  // DNS: servers must be addresses, searches and options single words (resolv.conf injection).
  const dns = 'config.dnsConfig';
  for (const v of ['not-an-ip', '1.1.1.1\nnameserver 6.6.6.6', '1.1.1.1 ', '300.1.1.1', '', '1.2.3.4/24']) r.push(['RunPodSandbox', `${dns}.servers`, [v], 'config.dns_config.servers[0]']);
  r.push(['RunPodSandbox', `${dns}.servers`, Array(40).fill('1.1.1.1'), 'config.dns_config.servers']);
  for (const v of ['a b', 'x\ny', 'x\nnameserver 6.6.6.6', big(300), '', 'a#b']) r.push(['RunPodSandbox', `${dns}.searches`, [v], 'config.dns_config.searches[0]']);
  for (const v of ['ndots:5\nnameserver 1.2.3.4', 'a b', '', 'x;y']) r.push(['RunPodSandbox', `${dns}.options`, [v], 'config.dns_config.options[0]']);

  // Port mappings.
  const pm = (v: Record<string, unknown>): Record<string, unknown>[] => [{ protocol: 'TCP', containerPort: 80, hostPort: 0, hostIp: '', ...v }];
  const pmf = 'config.port_mappings[0]';
  for (const [k, v, f] of [['hostPort', 70000, 'host_port'], ['hostPort', -1, 'host_port'], ['containerPort', 0, 'container_port'], ['containerPort', 70000, 'container_port'],
    ['containerPort', -1, 'container_port'], ['hostIp', '1.2.3.4; iptables -F', 'host_ip'], ['hostIp', 'localhost', 'host_ip'], ['hostIp', '300.1.1.1', 'host_ip'], ['protocol', 99, 'protocol']] as const) {
    r.push(['RunPodSandbox', 'config.portMappings', pm({ [k]: v }), `${pmf}.${f}`]);
  }
  r.push(['RunPodSandbox', 'config.portMappings', Array(2000).fill(pm({})[0]), 'config.port_mappings']);

  // Labels and annotations.
  for (const [m, base] of [['RunPodSandbox', 'config'], ['CreateContainer', 'config']] as const) {
    for (const key of ['labels', 'annotations']) {
      r.push([m, `${base}.${key}`, manyEntries(2000), `${base}.${key}`], [m, `${base}.${key}`, { '': 'x' }, `${base}.${key}`],
        [m, `${base}.${key}`, { 'a\nb': 'x' }, `${base}.${key}`], [m, `${base}.${key}`, { k: big(300 * 1024) }, `${base}.${key}`], [m, `${base}.${key}`, { [big(400)]: 'v' }, `${base}.${key}`]);
    }
  }

  // Pod Linux config: cgroup parent, sysctls, namespaces, security.
  for (const v of ['relative', '/a/../../..', '/x\0']) r.push(['RunPodSandbox', 'config.linux.cgroupParent', v, 'config.linux.cgroup_parent']);
  for (const [k, v] of [['net/../kernel/core_pattern', '|/bin/false'], ['net.ipv4/../../kernel.core_pattern', 'x'], ['kernel.core_pattern', '|/bin/false'], ['kernel.panic', '1'],
    ['', '1'], ['net..ipv4.ip_forward', '1'], ['net.ipv4.ip_forward', '1\n0'], ['net.ipv4.ip_forward', ''], ['NET.IPV4.IP_FORWARD', '1'], [big(300), '1']] as const) {
    r.push(['RunPodSandbox', 'config.linux.sysctls', { [k]: v }, 'config.linux.sysctls']);
  }
  for (const [k, v] of [['network', 99], ['network', 'CONTAINER'], ['network', 'TARGET'], ['pid', 99], ['pid', 'TARGET'], ['ipc', 99], ['ipc', 'CONTAINER']] as const) {
    r.push(['RunPodSandbox', `${ns}.${k}`, v, `${nsf}.${k}`]);
  }
  r.push(['RunPodSandbox', `${ns}.usernsOptions`, { mode: 'POD' }, `${nsf}.userns_options.mode`], ['RunPodSandbox', `${ns}.usernsOptions`, { mode: 99 }, `${nsf}.userns_options.mode`]);
  r.push(['RunPodSandbox', `${ns}.targetId`, 'zz', `${nsf}.target_id`]);
  r.push(['RunPodSandbox', `${sc}.seccomp`, { profileType: 99 }, `${scf}.seccomp.profile_type`], ['RunPodSandbox', `${sc}.seccomp`, { profileType: 'Localhost', localhostRef: 'rel' }, `${scf}.seccomp.localhost_ref`]);
  r.push(['RunPodSandbox', `${sc}.seccompProfilePath`, 'bogus', `${scf}.seccomp_profile_path`], ['RunPodSandbox', `${sc}.apparmor`, { profileType: 99 }, `${scf}.apparmor.profile_type`]);
  r.push(['RunPodSandbox', `${sc}.runAsUser`, { value: '-1' }, `${scf}.run_as_user`], ['RunPodSandbox', `${sc}.runAsGroup`, { value: '4294967296' }, `${scf}.run_as_group`]);
  r.push(['RunPodSandbox', `${sc}.supplementalGroups`, ['-1'], `${scf}.supplemental_groups[0]`], ['RunPodSandbox', `${sc}.supplementalGroupsPolicy`, 99, `${scf}.supplemental_groups_policy`]);
  r.push(['RunPodSandbox', `${sc}.selinuxOptions`, { user: big(1000) }, `${scf}.selinux_options.user`]);
  r.push(['RunPodSandbox', 'config.linux.resources', { cpuQuota: '-5' }, 'config.linux.resources.cpu_quota'], ['RunPodSandbox', 'config.linux.overhead', { cpusetMems: '0-99999' }, 'config.linux.overhead.cpuset_mems']);

  // Container: process, paths, mounts, devices, resources, security.
  const argvCases: [unknown, string][] = [[['a\0b'], '[0]'], [[big(200 * 1024)], '[0]'], [Array(5000).fill('x'), ''], [Array(20).fill(big(100 * 1024)), '']];
  for (const [v, i] of argvCases) {
    r.push(['CreateContainer', 'config.command', v, `config.command${i}`], ['CreateContainer', 'config.args', v, `config.args${i}`]);
    r.push(['ExecSync', 'cmd', v, `cmd${i}`], ['Exec', 'cmd', v, `cmd${i}`]);
  }
  r.push(['ExecSync', 'cmd', [], 'cmd'], ['ExecSync', 'cmd', [''], 'cmd'], ['Exec', 'cmd', [], 'cmd']);
  for (const v of ['-1', '-9223372036854775808']) r.push(['ExecSync', 'timeout', v, 'timeout'], ['StopContainer', 'timeout', v, 'timeout']);
  for (const v of ['relative', '/x\0']) r.push(['CreateContainer', 'config.workingDir', v, 'config.working_dir']);
  for (const [v, f] of [[{ key: 'A=B', value: Buffer.from('x') }, 'key'], [{ key: 'A\0', value: Buffer.from('x') }, 'key'], [{ key: '', value: Buffer.from('x') }, 'key'],
    [{ key: 'A', value: Buffer.from('x\0y') }, 'value']] as const) r.push(['CreateContainer', 'config.envs', [v], `config.envs[0].${f}`]);
  for (const v of ['../escape.log', '/abs.log', 'x\0', `${big(5000)}.log`]) r.push(['CreateContainer', 'config.logPath', v, 'config.log_path']);
  const mount = (v: Record<string, unknown>): Record<string, unknown>[] => [{ containerPath: '/m', hostPath: c.dir, ...v }];
  for (const [v, f] of [[{ containerPath: 'rel' }, 'container_path'], [{ hostPath: 'rel' }, 'host_path'], [{ hostPath: '' }, 'host_path'], [{ propagation: 99 }, 'propagation'],
    [{ hostPath: '/x\0' }, 'host_path'], [{ recursiveReadOnly: true }, 'recursive_read_only'], [{ mountOptions: ['rw'] }, 'mount_options'],
    [{ uidMappings: [{ hostId: 0, containerId: 0, length: 1 }] }, ''], [{ image: { image: 'UPPER case' } }, 'image']] as const) {
    r.push(['CreateContainer', 'config.mounts', mount(v), `config.mounts[0]${f ? `.${f}` : ''}`]);
  }
  // Propagating mounts of a private host mount: refused, the host left alone.
  r.push(['CreateContainer', 'config.mounts', mount({ hostPath: c.privateMount, propagation: 'PROPAGATION_BIDIRECTIONAL' }), 'config.mounts[0].host_path', [9]]);
  r.push(['CreateContainer', 'config.mounts', mount({ hostPath: c.privateMount, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }), 'config.mounts[0].host_path', [9]]);
  for (const [v, f] of [[{ containerPath: 'rel', hostPath: '/dev/null' }, 'container_path'], [{ containerPath: '/d', hostPath: '' }, 'host_path'],
    [{ containerPath: '/d', hostPath: '/dev/null', permissions: 'rwx' }, 'permissions'], [{ containerPath: '/d', hostPath: '/dev/null', permissions: 'rr' }, 'permissions']] as const) {
    r.push(['CreateContainer', 'config.devices', [v], `config.devices[0].${f}`]);
  }
  r.push(['CreateContainer', 'config.CDIDevices', [{ name: 'vendor.com/gpu=0' }], 'config.CDI_devices']);
  const res = 'config.linux.resources';
  const resCases: [string, unknown, string][] = [['cpuQuota', '-5', 'cpu_quota'], ['cpuQuota', '5', 'cpu_quota'], ['cpuPeriod', '-1', 'cpu_period'], ['cpuPeriod', '2000000', 'cpu_period'],
    ['cpuShares', '-1', 'cpu_shares'], ['memoryLimitInBytes', '-1', 'memory_limit_in_bytes'], ['memoryLimitInBytes', '1', 'memory_limit_in_bytes'],
    ['memorySwapLimitInBytes', '-2', 'memory_swap_limit_in_bytes'], ['oomScoreAdj', '1001', 'oom_score_adj'], ['oomScoreAdj', '-1001', 'oom_score_adj'],
    ['cpusetCpus', '0-99999', 'cpuset_cpus'], ['cpusetCpus', '3-1', 'cpuset_cpus'], ['cpusetCpus', 'a', 'cpuset_cpus'], ['cpusetCpus', '0,,1', 'cpuset_cpus'],
    ['cpusetMems', '0-99999', 'cpuset_mems'], ['hugepageLimits', [{ pageSize: 'x', limit: '1' }], 'hugepage_limits[0].page_size'],
    ['unified', { '../x': '1' }, 'unified'], ['unified', { 'memory.max': 'a\nb' }, 'unified']];
  for (const [k, v, f] of resCases) {
    r.push(['CreateContainer', `${res}.${k}`, v, `config.linux.resources.${f}`]);
    r.push(['UpdateContainerResources', `linux.${k}`, v, `linux.${f}`]);
  }
  r.push(['UpdateContainerResources', 'linux', null, 'linux'], ['UpdateContainerResources', 'annotations', manyEntries(2000), 'annotations']);
  const csec: [string, unknown, string, number[]?][] = [
    ['capabilities', { addCapabilities: ['CAP_BOGUS'] }, 'capabilities.add_capabilities[0]'], ['capabilities', { dropCapabilities: ['x\0'] }, 'capabilities.drop_capabilities[0]'],
    ['capabilities', { addAmbientCapabilities: ['CAP_CHOWN'] }, 'capabilities.add_ambient_capabilities'],
    ['namespaceOptions', { pid: 99 }, 'namespace_options.pid'], ['namespaceOptions', { network: 99 }, 'namespace_options.network'],
    ['namespaceOptions', { pid: 'TARGET' }, 'namespace_options.target_id'], ['namespaceOptions', { pid: 'TARGET', targetId: 'zz' }, 'namespace_options.target_id'],
    ['runAsUser', { value: '-1' }, 'run_as_user'], ['runAsGroup', { value: '-1' }, 'run_as_group'], ['runAsUsername', 'a:b', 'run_as_username'],
    ['supplementalGroups', ['-1'], 'supplemental_groups[0]'], ['maskedPaths', ['relative'], 'masked_paths[0]'], ['readonlyPaths', ['rel'], 'readonly_paths[0]'],
    ['maskedPaths', [''], 'masked_paths[0]'], ['seccomp', { profileType: 99 }, 'seccomp.profile_type'], ['seccomp', { profileType: 'Localhost' }, 'seccomp.localhost_ref'],
    ['seccomp', { profileType: 'Localhost', localhostRef: 'relative.json' }, 'seccomp.localhost_ref'],
    ['seccomp', { profileType: 'Localhost', localhostRef: c.fifo }, 'seccomp.localhost_ref'], ['seccomp', { profileType: 'Localhost', localhostRef: '/dev/zero' }, 'seccomp.localhost_ref'],
    ['seccomp', { profileType: 'Localhost', localhostRef: c.dir }, 'seccomp.localhost_ref'], ['seccomp', { profileType: 'Localhost', localhostRef: c.file }, 'seccomp.localhost_ref', [9]],
    ['seccompProfilePath', 'bogus', 'seccomp_profile_path'], ['seccompProfilePath', `localhost/${c.fifo}`, 'seccomp'],
    ['apparmor', { profileType: 99 }, 'apparmor.profile_type'], ['apparmor', { profileType: 'Localhost', localhostRef: '/x' }, 'apparmor', [9]],
    ['apparmorProfile', 'bogus', 'apparmor_profile'], ['cgroupMountMode', 99, 'cgroup_mount_mode'], ['cgroupMountMode', 'CGROUP_MOUNT_MODE_WRITABLE', 'cgroup_mount_mode'],
    ['supplementalGroupsPolicy', 99, 'supplemental_groups_policy'], ['supplementalGroupsPolicy', 'Strict', 'supplemental_groups_policy'],
  ];
  for (const [k, v, f, codes] of csec) r.push(['CreateContainer', `${sc}.${k}`, v, `${scf}.${f}`, codes]);
  for (const v of [999, -1, 66]) r.push(['CreateContainer', 'config.stopSignal', v, 'config.stop_signal']);
  r.push(['CreateContainer', 'sandboxConfig', { metadata: { name: 'bad name', namespace: 'n', uid: 'u' } }, 'sandbox_config.metadata.name']);
  r.push(['PullImage', 'sandboxConfig', { metadata: { name: 'n', namespace: 'N', uid: 'u' } }, 'sandbox_config.metadata.namespace']);
  r.push(['PullImage', 'auth', { auth: 'not base64!' }, 'auth.auth'], ['PullImage', 'auth', { password: 'a\nb' }, 'auth.password'], ['PullImage', 'auth', { registryToken: big(70 * 1024) }, 'auth.registry_token']);

  // Streams, ports, CIDRs, the rest.
  r.push(['Exec', 'stdout', false, 'one of stdin'], ['Attach', 'stdout', false, 'one of stdin']);
  for (const v of [[0], [70000], [-1]]) r.push(['PortForward', 'port', v, 'port[0]']);
  for (const v of ['10.0.0.0/33', '10.0.0.0', 'x/8', '::/129', '1.1.1.0/24,2.2.2.0/24,3.3.3.0/24', '10.0.0.0/8\n', '10.0.0.0/-1', '256.0.0.0/8']) {
    r.push(['UpdateRuntimeConfig', 'runtimeConfig.networkConfig.podCidr', v, 'runtime_config.network_config.pod_cidr']);
  }
  r.push(['Version', 'version', big(1000), 'version'], ['Version', 'version', 'a\nb', 'version']);
  return r;
}

/** Every request built to be invalid, each from its RPC's baseline with one field changed. */
export function invalidCases(t: Targets): StructuredCase[] {
  return rows(t).map(([method, path, value, field, codes]) => ({
    method, request: setPath(structuredClone(baseline(method, t)), path, value), invalid: true, field, codes: codes ?? IA,
    label: `${method} ${path}=${JSON.stringify(value)?.slice(0, 60)}`,
  }));
}

// ---- hostile values in random fields, through the schema -----------------------------

let root: protobuf.Root | undefined;
function schema(): protobuf.Root {
  if (!root) {
    root = protobuf.loadSync(protoPath);
    root.resolveAll();
  }
  return root;
}

function hostileStrings(c: Canary): string[] {
  return [
    '', ' ', '\0', 'x\0y', 'a\nb', '\r\n', '\t', '../../../../../etc/passwd', '/../../etc/shadow', c.fifo, c.file, c.dir, '/dev/zero', '/proc/self/mem',
    '/proc/sysrq-trigger', '%n%s%x', 'ü', '\u202e\u0000', 'A'.repeat(300), 'a'.repeat(70_000), 'x'.repeat(200_000), 'NaN', '-1', '99999999999999999999', 'localhost:99999/x',
    '10.0.0.0/33', 'a;b=c d', '$(reboot)', '`id`', 'SIGKILL', 'null', '{}', '*', '/', '.', '..', '\uD800', 'CONTAINER_RUNNING',
  ];
}

const INTS = [0, -1, 1, 65536, 70000, 2 ** 31 - 1, -(2 ** 31), 99];
const UINTS = [0, 1, 65535, 70000, 2 ** 32 - 1, 99];
const LONGS = ['-1', '-5', '0', '1', '9223372036854775807', '-9223372036854775808', '2147484', '4294967296', '1000000000000'];
const ULONGS = ['0', '1', '18446744073709551615', '9223372036854775808', '4294967296'];

function hostileScalar(rng: Rng, f: protobuf.Field, c: Canary): unknown {
  if (f.resolvedType instanceof protobuf.Enum) {
    const names = Object.keys(f.resolvedType.values);
    return rng.chance(0.5) ? rng.pick([99, -1, 1_000_000, 2 ** 31 - 1]) : rng.pick(names);
  }
  switch (f.type) {
    case 'string': return rng.pick(hostileStrings(c));
    case 'bytes': return rng.pick([Buffer.from('x\0y'), Buffer.alloc(200_000, 0x41), Buffer.from([0xff, 0xfe]), Buffer.alloc(0)]);
    case 'bool': return rng.chance(0.5);
    case 'int32': case 'sint32': case 'sfixed32': return rng.pick(INTS);
    case 'uint32': case 'fixed32': return rng.pick(UINTS);
    case 'int64': case 'sint64': case 'sfixed64': return rng.pick(LONGS);
    case 'uint64': case 'fixed64': return rng.pick(ULONGS);
    case 'double': case 'float': return rng.pick([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e308]);
    default: return null;
  }
}

function hostileValue(rng: Rng, f: protobuf.Field, c: Canary, depth: number): unknown {
  if (f instanceof protobuf.MapField) {
    if (rng.chance(0.3)) return Object.fromEntries(Array.from({ length: 1500 + rng.int(1000) }, (_, i) => [`k${i}`, 'v']));
    const s = hostileStrings(c);
    return { [rng.pick(s)]: rng.pick(s), ok: 'v' };
  }
  const one = (): unknown => (f.resolvedType instanceof protobuf.Type ? hostileMessage(rng, f.resolvedType, c, depth + 1) : hostileScalar(rng, f, c));
  if (f.repeated) {
    if (rng.chance(0.2)) {
      // Many copies, up to about 4 MiB in all: within the 16 MiB message
      // limit, and quick for this process to encode.
      const v = one();
      const size = Math.max(1, Buffer.byteLength(JSON.stringify(v) ?? ''));
      return Array.from({ length: Math.max(1, Math.min(2000 + rng.int(3000), Math.floor(4 * 1024 * 1024 / size))) }, () => v);
    }
    return Array.from({ length: 1 + rng.int(3) }, one);
  }
  return one();
}

function hostileMessage(rng: Rng, type: protobuf.Type, c: Canary, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (depth > 4 || type.fieldsArray.length === 0) return out;
  const n = 1 + rng.int(Math.min(3, type.fieldsArray.length));
  for (let i = 0; i < n; i++) {
    const f = rng.pick(type.fieldsArray);
    out[f.name] = hostileValue(rng, f, c, depth);
  }
  return out;
}

// Fields whose hostile values could make berthd reach beyond this host (an
// image reference that parses is pulled; a CIDR that parses readdresses the
// bridge): only the invalid values of invalidCases() go there.
const NOT_RANDOMIZED: Record<string, string[]> = { PullImage: ['image'], UpdateRuntimeConfig: ['runtimeConfig'] };

/**
 * The baseline of `method` with one field, at a random depth, set to a
 * hostile value for its type. Whether the result is valid is not known.
 */
export function hostileCase(rng: Rng, method: string, requestType: string, t: Targets): StructuredCase {
  const type = schema().lookupType(`runtime.v1.${requestType}`);
  const req = structuredClone(baseline(method, t));
  let o: Record<string, unknown> = req;
  let ty = type;
  const path: string[] = [];
  for (let depth = 0; ; depth++) {
    const fields = ty.fieldsArray.filter((f) => depth > 0 || !(NOT_RANDOMIZED[method] ?? []).includes(f.name));
    if (fields.length === 0) break;
    const f = rng.pick(fields);
    path.push(f.name);
    const sub = f.resolvedType;
    if (sub instanceof protobuf.Type && !f.repeated && !(f instanceof protobuf.MapField) && depth < 4 && rng.chance(0.6) && sub.fieldsArray.length) {
      const next = o[f.name];
      o = o[f.name] = next && typeof next === 'object' && !Array.isArray(next) ? (next as Record<string, unknown>) : {};
      ty = sub;
      continue;
    }
    const v = hostileValue(rng, f, t.canary, depth);
    o[f.name] = v;
    path.push(`=${(JSON.stringify(v) ?? String(v)).slice(0, 80)}`);
    break;
  }
  return { method, request: req, invalid: false, label: `${method} ${path.join('.')} (random)` };
}
