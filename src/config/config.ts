import { readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import { KEYS, TABLES, type KeySpec, type KeyType } from './keys.js';

export interface RuntimeHandlerConfig {
  path: string;
  root: string;
  privileged_without_host_devices: boolean;
  exec_fifo_start: boolean;
  sealed_copy: boolean;
}

export interface RegistryConfig {
  mirrors: string[];
  server: string;
  insecure: boolean;
  ca_file: string;
  cert_file: string;
  key_file: string;
  username: string;
  password: string;
}

export interface Config {
  daemon: {
    root: string;
    state: string;
    state_tmpfs: boolean;
    listen: string;
    socket_mode: string;
    socket_group: string;
    log_level: string;
    max_message_bytes: number;
    shutdown_timeout: number;
  };
  runtime: {
    cgroup_driver: 'cgroupfs' | 'systemd';
    cgroup_parent: string;
    default_handler: string;
    conmon: string;
    infra: string;
    conmon_cgroup: string;
    log_size_max: number;
    restrict_oom_score_adj: boolean;
    seccomp_default: boolean;
    seccomp_profile: string;
    exec_sync_max_output: number;
    cdi_spec_dirs: string[];
    handlers: Record<string, RuntimeHandlerConfig>;
  };
  image: {
    max_concurrent_downloads: number;
    pinned: string[];
    stall_timeout: number;
    retries: number;
    insecure_registries: string[];
  };
  network: {
    cni_conf_dir: string;
    cni_bin_dirs: string[];
    cni_cache_dir: string;
    write_default_config: boolean;
    bridge: string;
    subnet: string;
    ip_masq: boolean;
    plugin_timeout: number;
  };
  streaming: {
    address: string;
    port: number;
    tls_cert: string;
    tls_key: string;
    token_ttl: number;
    idle_timeout: number;
  };
  metrics: {
    address: string;
    slo_window: number;
    slo_start_success: string;
    slo_start_latency_p95: number;
    slo_pull_success: string;
    image_fs_pressure: string;
    container_fs_pressure: string;
  };
  stats: {
    collection_period: number;
  };
  tracing: {
    otlp_endpoint: string;
    sample_ratio: string;
  };
  registries: Record<string, RegistryConfig>;
}

export const DEFAULT_HANDLERS: Record<string, RuntimeHandlerConfig> = {
  runc: { path: '/usr/sbin/runc', root: '', privileged_without_host_devices: false, exec_fifo_start: true, sealed_copy: true },
  // crun does not clone itself before a container process: a copy would only cost memory.
  crun: { path: '/usr/bin/crun', root: '', privileged_without_host_devices: false, exec_fifo_start: true, sealed_copy: false },
};

/** A configuration problem; `key` is the dotted path, `source` the file or flag. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly source: string,
    problem: string,
  ) {
    super(key === '-' ? `config ${source}: ${problem}` : `config ${source}: key "${key}": ${problem}`);
    this.name = 'ConfigError';
  }
}

type Tree = Record<string, unknown>;

function isTable(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function checkType(spec: { type: KeyType }, value: unknown): string | undefined {
  switch (spec.type) {
    case 'string':
      return typeof value === 'string' ? undefined : `must be a string, got ${describe(value)}`;
    case 'bool':
      return typeof value === 'boolean' ? undefined : `must be true or false, got ${describe(value)}`;
    case 'int':
    case 'seconds':
      return typeof value === 'number' && Number.isInteger(value)
        ? undefined
        : `must be an integer, got ${describe(value)}`;
    case 'string[]':
      return Array.isArray(value) && value.every((x) => typeof x === 'string')
        ? undefined
        : `must be an array of strings, got ${describe(value)}`;
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'bigint') return `integer ${v}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

function validateLeaf(spec: KeySpec, value: unknown, source: string): unknown {
  // smol-toml gives integers as numbers unless they overflow; normalise bigint.
  if (typeof value === 'bigint') value = Number(value);
  const typeProblem = checkType(spec, value);
  if (typeProblem) throw new ConfigError(spec.path, source, typeProblem);
  if (spec.oneOf && !spec.oneOf.includes(value as string)) {
    throw new ConfigError(spec.path, source, `must be one of ${spec.oneOf.join(', ')}, got ${JSON.stringify(value)}`);
  }
  if (typeof value === 'number') {
    if (spec.min !== undefined && value < spec.min) throw new ConfigError(spec.path, source, `must be at least ${spec.min}`);
    if (spec.max !== undefined && value > spec.max) throw new ConfigError(spec.path, source, `must be at most ${spec.max}`);
  }
  const problem = spec.check?.(value as never);
  if (problem) throw new ConfigError(spec.path, source, problem);
  return value;
}

const keyByPath = new Map(KEYS.map((k) => [k.path, k]));
const tableByPath = new Map(TABLES.map((t) => [t.path, t]));

function setPath(tree: Tree, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = tree;
  for (const p of parts.slice(0, -1)) {
    if (!isTable(node[p])) node[p] = {};
    node = node[p] as Tree;
  }
  node[parts[parts.length - 1]] = value;
}

function defaults(): Tree {
  const tree: Tree = {};
  for (const k of KEYS) setPath(tree, k.path, structuredClone(k.default));
  setPath(tree, 'runtime.handlers', structuredClone(DEFAULT_HANDLERS));
  setPath(tree, 'registries', {});
  return tree;
}

/** Merges one user-named table entry (e.g. runtime.handlers.runc) over its defaults. */
function mergeTableEntry(path: string, name: string, value: unknown, base: Tree | undefined, source: string): Tree {
  const spec = tableByPath.get(path)!;
  const full = `${path}.${name}`;
  if (!isTable(value)) throw new ConfigError(full, source, 'must be a table');
  const out: Tree = {};
  for (const [field, f] of Object.entries(spec.fields)) {
    out[field] = base?.[field] ?? structuredClone(f.default);
  }
  for (const [field, v] of Object.entries(value)) {
    const f = spec.fields[field];
    if (!f) throw new ConfigError(`${full}.${field}`, source, `unknown key (known: ${Object.keys(spec.fields).join(', ')})`);
    const problem = checkType(f, typeof v === 'bigint' ? Number(v) : v);
    if (problem) throw new ConfigError(`${full}.${field}`, source, problem);
    out[field] = v;
  }
  for (const [field, f] of Object.entries(spec.fields)) {
    if (out[field] === undefined) throw new ConfigError(`${full}.${field}`, source, `is required (${f.doc})`);
  }
  return out;
}

function mergeFile(tree: Tree, file: Tree, source: string): void {
  const walk = (node: Tree, prefix: string): void => {
    for (const [key, value] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${key}` : key;
      const leaf = keyByPath.get(path);
      if (leaf) {
        setPath(tree, path, validateLeaf(leaf, value, source));
        continue;
      }
      if (tableByPath.has(path)) {
        if (!isTable(value)) throw new ConfigError(path, source, 'must be a table');
        const current = getPath(tree, path) as Tree;
        for (const [name, entry] of Object.entries(value)) {
          current[name] = mergeTableEntry(path, name, entry, current[name] as Tree | undefined, source);
        }
        continue;
      }
      const isSection = KEYS.some((k) => k.path.startsWith(`${path}.`)) || TABLES.some((t) => t.path.startsWith(`${path}.`));
      if (isSection && isTable(value)) {
        walk(value, path);
        continue;
      }
      throw new ConfigError(path, source, 'unknown key');
    }
  };
  walk(file, '');
}

export function getPath(tree: unknown, path: string): unknown {
  let node = tree;
  for (const p of path.split('.')) {
    if (!isTable(node)) return undefined;
    node = node[p];
  }
  return node;
}

/** Parses a flag's string value into the key's type. */
export function parseFlagValue(path: string, raw: string): unknown {
  const spec = keyByPath.get(path);
  if (!spec) throw new ConfigError(path, 'flag', 'unknown key');
  switch (spec.type) {
    case 'string':
      return raw;
    case 'bool':
      if (raw === 'true' || raw === '1' || raw === '') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new ConfigError(path, 'flag', `must be true or false, got ${JSON.stringify(raw)}`);
    case 'int':
    case 'seconds': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isInteger(n)) throw new ConfigError(path, 'flag', `must be an integer, got ${JSON.stringify(raw)}`);
      return n;
    }
    case 'string[]':
      return raw === '' ? [] : raw.split(',').map((s) => s.trim());
  }
}

export interface LoadOptions {
  /** Path of the TOML file. */
  file?: string;
  /** A missing file is fine only when it is the default path. */
  fileRequired?: boolean;
  /** Dotted key → raw string value from flags; applied over the file. */
  overrides?: Record<string, string>;
}

export const DEFAULT_CONFIG_FILE = '/etc/berth/berth.toml';

export function loadConfig(opts: LoadOptions = {}): Config {
  const tree = defaults();
  if (opts.file) {
    let text: string | undefined;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || opts.fileRequired) {
        throw new ConfigError('-', opts.file, `cannot read: ${(err as Error).message}`);
      }
    }
    if (text !== undefined) {
      let parsed: Tree;
      try {
        parsed = parseToml(text) as Tree;
      } catch (err) {
        const where = err instanceof TomlError ? ` at line ${err.line}, column ${err.column}` : '';
        throw new ConfigError('-', opts.file, `invalid TOML${where}: ${(err as Error).message.split('\n')[0]}`);
      }
      mergeFile(tree, parsed, opts.file);
    }
  }
  for (const [path, raw] of Object.entries(opts.overrides ?? {})) {
    const spec = keyByPath.get(path);
    if (!spec) throw new ConfigError(path, 'flag', 'unknown key');
    setPath(tree, path, validateLeaf(spec, parseFlagValue(path, raw), `flag --${flagName(path)}`));
  }
  const cfg = tree as unknown as Config;
  if (cfg.daemon.listen === '') cfg.daemon.listen = `${cfg.daemon.state}/berth.sock`;
  if (cfg.network.cni_cache_dir === '') cfg.network.cni_cache_dir = `${cfg.daemon.root}/cni-cache`;
  for (const [name, h] of Object.entries(cfg.runtime.handlers)) {
    if (!h.path.startsWith('/')) throw new ConfigError(`runtime.handlers.${name}.path`, opts.file ?? 'defaults', 'must be an absolute path');
    if (h.root === '') h.root = `${cfg.daemon.state}/runtime/${name}`;
  }
  if (!cfg.runtime.handlers[cfg.runtime.default_handler]) {
    throw new ConfigError('runtime.default_handler', opts.file ?? 'defaults',
      `names handler "${cfg.runtime.default_handler}", which is not in [runtime.handlers]`);
  }
  const monitors = cfg.runtime.conmon_cgroup.replace(/\/+$/, '');
  const pods = cfg.runtime.cgroup_parent.replace(/\/+$/, '');
  // On cgroup v2 a cgroup with child cgroups under controllers cannot hold processes.
  if (monitors !== 'pod' && (pods === monitors || pods.startsWith(`${monitors}/`))) {
    throw new ConfigError('runtime.conmon_cgroup', opts.file ?? 'flags', `must not be runtime.cgroup_parent ("${cfg.runtime.cgroup_parent}") nor above it`);
  }
  if ((cfg.streaming.tls_cert === '') !== (cfg.streaming.tls_key === '')) {
    throw new ConfigError('streaming.tls_cert', opts.file ?? 'flags', 'tls_cert and tls_key must be set together');
  }
  return cfg;
}

/** `daemon.log_level` → `daemon-log-level`. */
export function flagName(path: string): string {
  return path.replace(/[._]/g, '-');
}

function tomlValue(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

/** The complete default configuration as a commented TOML document. */
export function renderDefaultToml(): string {
  const lines = ['# Berth configuration. Every key is shown with its default.', ''];
  let section = '';
  for (const k of KEYS) {
    const [sec, ...rest] = k.path.split('.');
    if (sec !== section) {
      if (section) lines.push('');
      lines.push(`[${sec}]`);
      section = sec;
    }
    lines.push(`# ${k.doc}`);
    lines.push(`${rest.join('.')} = ${tomlValue(k.default)}`);
  }
  for (const [name, h] of Object.entries(DEFAULT_HANDLERS)) {
    lines.push('', `[runtime.handlers.${name}]`);
    for (const [field, v] of Object.entries(h)) lines.push(`${field} = ${tomlValue(v)}`);
  }
  lines.push('', '# Per-registry settings, for example:', '# [registries."registry.example.com:5000"]');
  for (const [field, f] of Object.entries(TABLES.find((t) => t.path === 'registries')!.fields)) {
    lines.push(`# ${field} = ${tomlValue(f.default)}`);
  }
  return lines.join('\n') + '\n';
}

/** The reference section of docs/config.md, generated so it cannot drift. */
export function renderConfigDocs(): string {
  const out = ['| key | type | default | flag | meaning |', '| --- | --- | --- | --- | --- |'];
  for (const k of KEYS) {
    const type = k.oneOf ? k.oneOf.join(' \\| ') : k.type;
    out.push(`| \`${k.path}\` | ${type} | \`${tomlValue(k.default)}\` | \`--${flagName(k.path)}\` | ${k.doc} |`);
  }
  for (const t of TABLES) {
    out.push('', `### [${t.path}.NAME]`, '', t.doc, '', '| field | type | default | meaning |', '| --- | --- | --- | --- |');
    for (const [field, f] of Object.entries(t.fields)) {
      out.push(`| \`${field}\` | ${f.type} | ${f.default === undefined ? 'required' : `\`${tomlValue(f.default)}\``} | ${f.doc} |`);
    }
  }
  return out.join('\n') + '\n';
}
