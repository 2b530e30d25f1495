// The one list of configuration keys. Validation, `berthd config default`,
// command-line flags and docs/config.md are all derived from it, so a key
// cannot exist in one place and be missing from another.

export type KeyType = 'string' | 'int' | 'bool' | 'string[]' | 'seconds';

export interface KeySpec {
  /** Dotted path: section.key. */
  path: string;
  type: KeyType;
  default: string | number | boolean | string[];
  doc: string;
  /** Returns a problem description, or undefined when the value is fine. */
  check?: (value: never) => string | undefined;
  /** Allowed values for enumerated strings. */
  oneOf?: readonly string[];
  min?: number;
  max?: number;
  /** A credential: shown as [redacted] wherever the configuration is printed or logged. */
  secret?: boolean;
}

const absolute = (v: string): string | undefined =>
  v === '' || v.startsWith('/') ? undefined : 'must be an absolute path';

const conmonCgroup = (v: string): string | undefined => {
  if (v === 'pod') return undefined;
  if (!v.startsWith('/') || v.split('/').includes('..')) return 'must be "pod" or an absolute cgroupfs path';
  return v.replace(/\/+$/, '') === '' ? 'must not be the root cgroup' : undefined;
};

const logSizeMax = (v: number): string | undefined =>
  v > 0 && v < 8192 ? 'must be -1 or 0 (no limit) or at least 8192' : undefined;

const hostPort = (v: string): string | undefined => {
  if (v === '') return undefined;
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(v);
  if (!m) return 'must be HOST:PORT (an empty string disables it)';
  const port = Number(m[2]);
  return port > 65535 ? 'port must be at most 65535' : undefined;
};

const oneCidr = (v: string): boolean =>
  /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/.test(v) || /^[0-9a-fA-F:]+\/\d{1,3}$/.test(v);
const cidr = (v: string): string | undefined =>
  v.split(',').length <= 2 && v.split(',').every((c) => oneCidr(c.trim()))
    ? undefined
    : 'must be a CIDR such as 10.88.0.0/16, or an IPv4,IPv6 pair such as 10.88.0.0/16,fd88::/64';

export const KEYS: readonly KeySpec[] = [
  // [daemon]
  { path: 'daemon.root', type: 'string', default: '/var/lib/berth', check: absolute,
    doc: 'Persistent state: images, layers, container metadata. Survives reboots.' },
  { path: 'daemon.state', type: 'string', default: '/run/berth', check: absolute,
    doc: 'Volatile state: sockets, sandbox namespaces, runtime state. Expected on a tmpfs.' },
  { path: 'daemon.state_tmpfs', type: 'bool', default: true,
    doc: 'When daemon.state is an empty directory on a disk filesystem (a host whose /run is not a tmpfs), mount a tmpfs there at start: runc writes each container\'s and exec\'s pid file there with O_SYNC, a journal commit per start on ext4. Left mounted when berthd exits, like /run.' },
  { path: 'daemon.listen', type: 'string', default: '', check: absolute,
    doc: 'Unix socket the CRI services listen on. Empty means `<daemon.state>/berth.sock`.' },
  { path: 'daemon.socket_mode', type: 'string', default: '0660',
    check: (v: string) => (/^0?[0-7]{3}$/.test(v) ? undefined : 'must be an octal mode such as 0660'),
    doc: 'File mode of the CRI socket.' },
  { path: 'daemon.socket_group', type: 'string', default: '',
    doc: 'Group (name in /etc/group, or number) given the CRI socket, so that its members reach it under `socket_mode` without being root (crictl, monitoring). Empty: root\'s group. A group that does not exist stops start-up.' },
  { path: 'daemon.log_level', type: 'string', default: 'info',
    oneOf: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
    doc: 'Minimum level of the JSON log written to standard error.' },
  { path: 'daemon.max_message_bytes', type: 'int', default: 16 * 1024 * 1024, min: 4 * 1024 * 1024,
    doc: 'Largest gRPC message sent or received (kubelet uses 16 MiB).' },
  { path: 'daemon.shutdown_timeout', type: 'seconds', default: 30, min: 0,
    doc: 'On SIGTERM, how long in-flight calls may run before the server closes them.' },

  // [runtime]
  { path: 'runtime.cgroup_driver', type: 'string', default: 'cgroupfs', oneOf: ['cgroupfs', 'systemd'],
    doc: 'How container cgroups are managed. `systemd` needs systemd as PID 1.' },
  { path: 'runtime.cgroup_parent', type: 'string', default: '/berth',
    doc: 'Parent cgroup for sandboxes whose config names none.' },
  { path: 'runtime.default_handler', type: 'string', default: 'runc',
    doc: 'Runtime handler used when RunPodSandbox names none. Must be a key of [runtime.handlers].' },
  { path: 'runtime.conmon', type: 'string', default: '/usr/bin/conmon', check: absolute,
    doc: 'Path of the conmon monitor that supervises every container.' },
  { path: 'runtime.infra', type: 'string', default: '/usr/bin/catatonit', check: absolute,
    doc: 'Init binary run as a pod\'s infra process when the pod needs one (shared PID namespace).' },
  { path: 'runtime.conmon_cgroup', type: 'string', default: 'pod', check: conmonCgroup,
    doc: 'Cgroup each container\'s conmon and each pod\'s infra process are moved into, out of berthd\'s own, before they run anything, so that stopping berthd\'s cgroup (systemd\'s default KillMode) leaves them running. `pod`: `<pod cgroup>/berth-conmon`, charged to the pod (CRI-O\'s only choice with cgroupfs); an absolute cgroupfs path: that one cgroup for all, made when first needed and removed at shutdown when empty (see docs/config.md).' },
  { path: 'runtime.log_size_max', type: 'int', default: -1, min: -1, check: logSizeMax,
    doc: 'Most bytes a container\'s log file holds (conmon\'s --log-size-max, CRI-O\'s `log_size_max`); the line that would pass it goes into an emptied file (see docs/config.md). -1 or 0: no limit (the default, as CRI-O\'s: kubelet rotates the logs it names, and conmon\'s count does not restart at a rotation, so a limit would empty a rotated file now and then); otherwise at least 8192 (conmon reads 8 KiB at a time). A container created without log_path logs to `<daemon.root>/containers/<id>/console.log`, which nobody rotates: it is always bounded, by this limit when set, else by 64 MiB.' },
  { path: 'runtime.restrict_oom_score_adj', type: 'bool', default: true,
    doc: 'Clamp a requested oom_score_adj below the daemon\'s own to the daemon\'s value instead of failing (hosts without CAP_SYS_RESOURCE).' },
  { path: 'runtime.seccomp_default', type: 'bool', default: false,
    doc: 'Apply the RuntimeDefault seccomp profile to containers whose config asks for none.' },
  { path: 'runtime.seccomp_profile', type: 'string', default: '/usr/share/containers/seccomp.json', check: absolute,
    doc: 'The RuntimeDefault seccomp profile, a file in the format containers-common and Docker maintain (CRI-O\'s `seccomp_profile`; Debian\'s golang-github-containers-common installs the default one). Read at start; its rules conditional on the container\'s capabilities, the host architecture and the kernel version are resolved for each container. When the file does not exist, or the key is empty, berthd uses its built-in copy of the same policy (Status and the log say which is in use); a file that exists but does not parse stops start-up.' },
  { path: 'runtime.cdi_spec_dirs', type: 'string[]', default: ['/etc/cdi', '/var/run/cdi'],
    check: (v: string[]) => (v.every((d) => d.startsWith('/')) ? undefined : 'must be absolute paths'),
    doc: 'Directories of CDI (Container Device Interface) specs, JSON or YAML, that resolve the devices a container names in CDI_devices or `cdi.k8s.io/` annotations. Read again when they change; a later directory overrides an earlier one for the same device.' },
  { path: 'runtime.exec_sync_max_output', type: 'int', default: 16 * 1024 * 1024, min: 1024,
    doc: 'Bytes of stdout and of stderr kept from ExecSync; more is cut off.' },

  // [image]
  { path: 'image.max_concurrent_downloads', type: 'int', default: 3, min: 1, max: 64,
    doc: 'Layers downloaded in parallel for one pull.' },
  { path: 'image.pinned', type: 'string[]', default: [],
    doc: 'Image references reported as pinned (never garbage-collected by kubelet).' },
  { path: 'image.stall_timeout', type: 'seconds', default: 60, min: 1,
    doc: 'A blob transfer that receives no byte for this long fails; a slow but moving one does not.' },
  { path: 'image.retries', type: 'int', default: 3, min: 0, max: 20,
    doc: 'Retries, with exponential backoff, of transient registry failures (5xx, 429, resets).' },
  { path: 'image.insecure_registries', type: 'string[]', default: [],
    doc: 'Registries (host[:port]) reached over plain HTTP. localhost and 127.0.0.1 always are.' },

  // [network]
  { path: 'network.cni_conf_dir', type: 'string', default: '/etc/cni/net.d', check: absolute,
    doc: 'Directory of CNI network configurations; the lexically first valid one is used, re-read whenever the directory changes (new pods get the network in force; NetworkReady follows).' },
  { path: 'network.cni_bin_dirs', type: 'string[]', default: ['/opt/cni/bin', '/usr/lib/cni'],
    doc: 'Directories searched, in order, for CNI plugin binaries.' },
  { path: 'network.cni_cache_dir', type: 'string', default: '', check: absolute,
    doc: 'Where CNI ADD results are cached for DEL. Empty means `<daemon.root>/cni-cache`.' },
  { path: 'network.write_default_config', type: 'bool', default: true,
    doc: 'When the config directory holds no network configuration at all, write the default bridge network there as `99-berth.conflist`, which sorts after the files cluster networks install, so one installed later takes over for new pods. Nothing is written into a directory that already has a configuration.' },
  { path: 'network.bridge', type: 'string', default: 'berth0',
    doc: 'Bridge name of the default network.' },
  { path: 'network.subnet', type: 'string', default: '10.118.0.0/16', check: cidr,
    doc: 'Pod subnet of the default network, or an IPv4,IPv6 pair for dual-stack pods (UpdateRuntimeConfig\'s pod CIDR replaces it). The default is outside the ranges common tools default to (see docs/config.md), so berth\'s bridge route shadows none of theirs.' },
  { path: 'network.ip_masq', type: 'bool', default: false,
    doc: 'Masquerade pod traffic leaving the default network.' },
  { path: 'network.plugin_timeout', type: 'seconds', default: 30, min: 1,
    doc: 'A CNI plugin still running after this long is killed and the operation fails.' },

  // [streaming]
  { path: 'streaming.address', type: 'string', default: '127.0.0.1',
    doc: 'Address the exec/attach/port-forward server listens on.' },
  { path: 'streaming.port', type: 'int', default: 0, min: 0, max: 65535,
    doc: 'Port of the streaming server; 0 picks a free one.' },
  { path: 'streaming.tls_cert', type: 'string', default: '', check: absolute,
    doc: 'PEM certificate for the streaming server; with tls_key enables TLS.' },
  { path: 'streaming.tls_key', type: 'string', default: '', check: absolute,
    doc: 'PEM private key for the streaming server.' },
  { path: 'streaming.token_ttl', type: 'seconds', default: 60, min: 1,
    doc: 'How long a streaming URL stays valid. Each URL works once.' },
  { path: 'streaming.idle_timeout', type: 'seconds', default: 14400, min: 0,
    doc: 'A streaming session with no traffic for this long is closed (0 never).' },

  // [metrics]
  { path: 'metrics.address', type: 'string', default: '127.0.0.1:9847', check: hostPort,
    doc: 'HOST:PORT of the Prometheus endpoint (`/metrics`). Empty disables it.' },
  { path: 'metrics.slo_window', type: 'seconds', default: 3600, min: 60,
    doc: 'Window `berth slo` evaluates SLIs over.' },
  { path: 'metrics.slo_start_success', type: 'string', default: '0.995',
    check: (v: string) => (Number(v) > 0 && Number(v) <= 1 ? undefined : 'must be a ratio in (0, 1]'),
    doc: 'Target ratio of successful container starts.' },
  { path: 'metrics.slo_start_latency_p95', type: 'seconds', default: 1, min: 0,
    doc: 'Target 95th percentile of container start latency, seconds.' },
  { path: 'metrics.slo_pull_success', type: 'string', default: '0.99',
    check: (v: string) => (Number(v) > 0 && Number(v) <= 1 ? undefined : 'must be a ratio in (0, 1]'),
    doc: 'Target ratio of successful image pulls.' },
  { path: 'metrics.image_fs_pressure', type: 'string', default: '0.85',
    check: (v: string) => (Number(v) > 0 && Number(v) <= 1 ? undefined : 'must be a ratio in (0, 1]'),
    doc: 'Share of the image filesystem (the one holding daemon.root\'s image store) in use above which berthd reports disk pressure (`berth_disk_pressure{fs="image"}`, an event counted, a warning logged); 0.85 matches kubelet\'s default imagefs.available<15% eviction signal.' },
  { path: 'metrics.container_fs_pressure', type: 'string', default: '0.85',
    check: (v: string) => (Number(v) > 0 && Number(v) <= 1 ? undefined : 'must be a ratio in (0, 1]'),
    doc: 'Share of the filesystem holding containers\' writable layers in use above which berthd reports disk pressure (`berth_disk_pressure{fs="container"}`).' },

  // [stats]
  { path: 'stats.collection_period', type: 'seconds', default: 0, min: 0,
    doc: 'Seconds between background readings of every pod\'s and container\'s cgroup and pod network counters (CRI-O\'s `stats_collection_period`). While list calls keep coming (one within the last three periods), ListPodSandboxStats and ListContainerStats answer from the latest reading, each figure with the time it was taken, instead of reading at the call: answers come faster under load and are up to one period old, as with kubelet\'s cAdvisor housekeeping. 0: list calls read at the call (the default, as containerd and CRI-O).' },

  // [tracing]
  { path: 'tracing.otlp_endpoint', type: 'string', default: '',
    check: (v: string) => (v === '' || /^https?:\/\/[^/\s]+/.test(v) ? undefined : 'must be an http:// or https:// URL (empty: tracing off)'),
    doc: 'OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318) spans are exported to. Empty: tracing off.' },
  { path: 'tracing.sample_ratio', type: 'string', default: '1',
    check: (v: string) => (Number(v) >= 0 && Number(v) <= 1 ? undefined : 'must be a ratio in [0, 1]'),
    doc: 'Share of CRI calls traced when tracing is on.' },
];

/** Tables keyed by a user-chosen name; their fields are documented here too. */
export interface TableSpec {
  path: string;
  doc: string;
  fields: Record<string, { type: KeyType; doc: string; default?: string | number | boolean | string[]; secret?: boolean }>;
}

export const TABLES: readonly TableSpec[] = [
  {
    path: 'runtime.handlers',
    doc: 'Runtime handlers (RuntimeClass names) and the OCI runtime each one runs. `runc` and `crun` are defined by default.',
    fields: {
      path: { type: 'string', doc: 'Absolute path of the OCI runtime binary.' },
      root: { type: 'string', doc: 'The runtime\'s --root state directory. Empty: `<daemon.state>/runtime/<name>`.', default: '' },
      privileged_without_host_devices: { type: 'bool', doc: 'Privileged containers of this handler do not get the host\'s devices.', default: false },
      exec_fifo_start: { type: 'bool', doc: 'StartContainer releases a created container by reading the runtime\'s exec FIFO (`<root>/<id>/exec.fifo`, what `runc start` and `crun start` do) instead of running `<runtime> start`, saving a runtime process per start; `<runtime> start` is still used when the FIFO is not there.', default: true },
      sealed_copy: { type: 'bool', doc: 'Run the runtime from a sealed in-memory copy of its binary, made when first needed and again when the file changes (runc\'s memfd-bind): runc then skips cloning itself before every container process (a bind mount and a second exec per create and exec). Costs the binary\'s size in memory. On for the default `runc` handler.', default: false },
    },
  },
  {
    path: 'registries',
    doc: 'Per-registry settings, keyed by host[:port] (`docker.io` for Docker Hub).',
    fields: {
      mirrors: { type: 'string[]', doc: 'Mirror endpoints (https://host[:port] or http://…) tried in order before the registry itself.', default: [] },
      server: { type: 'string', doc: 'Endpoint (https://host[:port] or http://…) that serves this registry in place of its own host, like hosts.toml\'s `server` or registries.conf\'s `location`: tried after the mirrors, and the registry\'s own host is never contacted.', default: '' },
      insecure: { type: 'bool', doc: 'Use plain HTTP (or skip TLS verification on https mirrors).', default: false },
      ca_file: { type: 'string', doc: 'PEM CA bundle trusted for this registry, added to the system roots.', default: '' },
      cert_file: { type: 'string', doc: 'PEM client certificate for mutual TLS.', default: '' },
      key_file: { type: 'string', doc: 'PEM client key for mutual TLS.', default: '' },
      username: { type: 'string', doc: 'Credentials used when the pull request carries none.', default: '' },
      password: { type: 'string', doc: 'Password for `username`. Shown as `[redacted]` by `config check`, Status and the log.', default: '', secret: true },
    },
  },
];
