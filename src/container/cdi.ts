// Container Device Interface: vendors describe devices in spec files
// (JSON or YAML) under a few directories, and kubelet names them on a
// container, in ContainerConfig.CDI_devices or, from device plugins that
// predate that field, in `cdi.k8s.io/<key>` annotations. A name such as
// `vendor.com/class=dev0` selects one device of the spec whose kind is
// `vendor.com/class`; applying it edits the OCI spec: device nodes (and
// their cgroup rules), mounts, environment, hooks and extra groups, the
// spec's own edits first, then the device's.
//
// The directories are read again when they change (names, sizes and mtimes
// compared on each use), so a driver installed while berthd runs is usable
// at once. A later directory overrides an earlier one for the same device;
// two files of one directory that define the same device conflict, and that
// device is refused naming both files.
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { invalidArgument, notFound } from '../util/errors.js';
import { devNumbers } from './host-inputs.js';

export const CDI_ANNOTATION_PREFIX = 'cdi.k8s.io/';

const HOOK_NAMES = new Set(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
const KIND = /^[A-Za-z0-9][A-Za-z0-9.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const DEVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

export interface CdiDeviceNode {
  /** Path inside the container. */
  path: string;
  /** Node on the host; `path` when absent. */
  hostPath?: string;
  type?: 'c' | 'b' | 'u' | 'p';
  major?: number;
  minor?: number;
  fileMode?: number;
  permissions?: string;
  uid?: number;
  gid?: number;
}

export interface CdiMount {
  hostPath: string;
  containerPath: string;
  type?: string;
  options?: string[];
}

export interface CdiHook {
  hookName: string;
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface CdiEdits {
  env?: string[];
  deviceNodes?: CdiDeviceNode[];
  mounts?: CdiMount[];
  hooks?: CdiHook[];
  additionalGids?: number[];
}

interface SpecFile {
  file: string;
  kind: string;
  edits?: CdiEdits;
  devices: Map<string, CdiEdits | undefined>;
}

interface Found {
  spec: SpecFile;
  edits: CdiEdits | undefined;
  /** Files of the same directory that define the device too. */
  conflicts: string[];
}

/** A device a container asks for, and the request field that names it (for errors). */
export interface CdiRequest {
  name: string;
  field: string;
}

/** The devices a container asks for: CDI_devices first, then the annotations' (sorted by key), each once. */
export function requestedCdiDevices(fields: string[], annotations: Record<string, string>): CdiRequest[] {
  const out: CdiRequest[] = fields.map((name, i) => ({ name, field: `config.CDI_devices[${i}]` }));
  for (const key of Object.keys(annotations).sort()) {
    if (!key.startsWith(CDI_ANNOTATION_PREFIX)) continue;
    for (const name of annotations[key]!.split(',').map((s) => s.trim()).filter(Boolean)) out.push({ name, field: `config.annotations["${key}"]` });
  }
  const seen = new Set<string>();
  return out.filter((r) => !seen.has(r.name) && seen.add(r.name));
}

/** `vendor.com/class=name` split; undefined when the name is not fully qualified. */
export function parseQualifiedName(name: string): { kind: string; device: string } | undefined {
  const eq = name.indexOf('=');
  if (eq < 0) return undefined;
  const kind = name.slice(0, eq);
  const device = name.slice(eq + 1);
  return KIND.test(kind) && DEVICE_NAME.test(device) ? { kind, device } : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new Error(`${what} must be a list of strings`);
  return v as string[];
}

function optNumber(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`${what} must be a non-negative integer`);
  return v;
}

function absolutePath(v: unknown, what: string): string {
  if (typeof v !== 'string' || !v.startsWith('/')) throw new Error(`${what} must be an absolute path`);
  return v;
}

/** The containerEdits of a spec or device, checked field by field (a spec that fails is not used at all). */
export function parseEdits(v: unknown, what: string): CdiEdits | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw new Error(`${what} must be an object`);
  const env = strings(v.env, `${what}.env`);
  for (const e of env ?? []) if (e.indexOf('=') <= 0) throw new Error(`${what}.env "${e}" is not KEY=VALUE`);
  const deviceNodes = v.deviceNodes === undefined || v.deviceNodes === null ? undefined : (v.deviceNodes as unknown[]);
  if (deviceNodes !== undefined && !Array.isArray(deviceNodes)) throw new Error(`${what}.deviceNodes must be a list`);
  const nodes = deviceNodes?.map((n, i): CdiDeviceNode => {
    const w = `${what}.deviceNodes[${i}]`;
    if (!isRecord(n)) throw new Error(`${w} must be an object`);
    const type = n.type === undefined || n.type === '' ? undefined : n.type;
    if (type !== undefined && !['c', 'b', 'u', 'p'].includes(type as string)) throw new Error(`${w}.type "${String(type)}" is not one of c, b, u, p`);
    const permissions = n.permissions === undefined || n.permissions === '' ? undefined : n.permissions;
    if (permissions !== undefined && (typeof permissions !== 'string' || !/^[rwm]+$/.test(permissions))) throw new Error(`${w}.permissions must be made of r, w and m`);
    return {
      path: absolutePath(n.path, `${w}.path`),
      hostPath: n.hostPath === undefined || n.hostPath === '' ? undefined : absolutePath(n.hostPath, `${w}.hostPath`),
      type: type as CdiDeviceNode['type'],
      major: optNumber(n.major, `${w}.major`),
      minor: optNumber(n.minor, `${w}.minor`),
      fileMode: optNumber(n.fileMode, `${w}.fileMode`),
      permissions: permissions as string | undefined,
      uid: optNumber(n.uid, `${w}.uid`),
      gid: optNumber(n.gid, `${w}.gid`),
    };
  });
  if (v.mounts !== undefined && v.mounts !== null && !Array.isArray(v.mounts)) throw new Error(`${what}.mounts must be a list`);
  const mounts = (v.mounts as unknown[] | undefined | null)?.map((m, i): CdiMount => {
    const w = `${what}.mounts[${i}]`;
    if (!isRecord(m)) throw new Error(`${w} must be an object`);
    if (m.type !== undefined && typeof m.type !== 'string') throw new Error(`${w}.type must be a string`);
    return {
      hostPath: absolutePath(m.hostPath, `${w}.hostPath`),
      containerPath: absolutePath(m.containerPath, `${w}.containerPath`),
      type: (m.type as string | undefined) || undefined,
      options: strings(m.options, `${w}.options`),
    };
  });
  if (v.hooks !== undefined && v.hooks !== null && !Array.isArray(v.hooks)) throw new Error(`${what}.hooks must be a list`);
  const hooks = (v.hooks as unknown[] | undefined | null)?.map((h, i): CdiHook => {
    const w = `${what}.hooks[${i}]`;
    if (!isRecord(h)) throw new Error(`${w} must be an object`);
    if (typeof h.hookName !== 'string' || !HOOK_NAMES.has(h.hookName)) throw new Error(`${w}.hookName "${String(h.hookName)}" is not an OCI hook`);
    return {
      hookName: h.hookName,
      path: absolutePath(h.path, `${w}.path`),
      args: strings(h.args, `${w}.args`),
      env: strings(h.env, `${w}.env`),
      timeout: optNumber(h.timeout, `${w}.timeout`),
    };
  });
  const gids = v.additionalGIDs ?? v.additionalGids;
  if (gids !== undefined && gids !== null && !Array.isArray(gids)) throw new Error(`${what}.additionalGIDs must be a list`);
  const additionalGids = (gids as unknown[] | undefined | null)?.map((g, i) => optNumber(g, `${what}.additionalGIDs[${i}]`)!);
  return { env, deviceNodes: nodes, mounts, hooks, additionalGids };
}

/** One spec file's content: its kind, its own edits and its devices by name. */
export function parseSpec(file: string, text: string): SpecFile {
  const doc: unknown = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  if (!isRecord(doc)) throw new Error('not a CDI spec (no object at the top)');
  if (typeof doc.cdiVersion !== 'string' || !/^\d+\.\d+\.\d+$/.test(doc.cdiVersion)) throw new Error('cdiVersion is missing or not a version');
  if (typeof doc.kind !== 'string' || !KIND.test(doc.kind)) throw new Error(`kind "${String(doc.kind)}" is not vendor/class`);
  if (!Array.isArray(doc.devices)) throw new Error('devices must be a list');
  const devices = new Map<string, CdiEdits | undefined>();
  for (const [i, d] of (doc.devices as unknown[]).entries()) {
    if (!isRecord(d) || typeof d.name !== 'string' || !DEVICE_NAME.test(d.name)) throw new Error(`devices[${i}].name is missing or not a device name`);
    if (devices.has(d.name)) throw new Error(`device "${d.name}" is defined twice`);
    devices.set(d.name, parseEdits(d.containerEdits, `devices[${i}].containerEdits`));
  }
  return { file, kind: doc.kind, edits: parseEdits(doc.containerEdits, 'containerEdits'), devices };
}

/** A device node with its host facts filled in. */
export interface ResolvedCdiNode {
  path: string;
  hostPath: string;
  type: 'c' | 'b' | 'u' | 'p';
  major: number;
  minor: number;
  fileMode?: number;
  permissions: string;
  uid?: number;
  gid?: number;
}

export interface ResolvedCdi {
  /** The qualified names applied, in order. */
  devices: string[];
  env: string[];
  nodes: ResolvedCdiNode[];
  mounts: CdiMount[];
  hooks: CdiHook[];
  additionalGids: number[];
}

export class CdiRegistry {
  private signature = '';
  private specs: SpecFile[][] = [];
  private problems: string[] = [];

  constructor(readonly dirs: readonly string[]) {}

  private async scan(): Promise<{ files: string[][]; sig: string }> {
    const files: string[][] = [];
    const parts: string[] = [];
    for (const dir of this.dirs) {
      const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /\.(json|ya?ml)$/.test(n)).sort();
      const inDir: string[] = [];
      for (const n of names) {
        const p = join(dir, n);
        const s = await stat(p).catch(() => undefined);
        if (!s?.isFile()) continue;
        inDir.push(p);
        parts.push(`${p}:${s.mtimeMs}:${s.size}:${s.ino}`);
      }
      files.push(inDir);
    }
    return { files, sig: parts.join('|') };
  }

  /** The spec files in force, by directory; re-read when a directory changed. */
  private async current(): Promise<SpecFile[][]> {
    const { files, sig } = await this.scan();
    if (sig === this.signature) return this.specs;
    const problems: string[] = [];
    const specs = await Promise.all(files.map((inDir) => Promise.all(inDir.map(async (f) => {
      try {
        return parseSpec(f, await readFile(f, 'utf8'));
      } catch (err) {
        problems.push(`${f}: ${(err as Error).message}`);
        return undefined;
      }
    }))));
    this.specs = specs.map((inDir) => inDir.filter((s): s is SpecFile => s !== undefined));
    this.problems = problems;
    this.signature = sig;
    return this.specs;
  }

  /** Spec files that could not be used, with the reason. */
  async specProblems(): Promise<string[]> {
    await this.current();
    return [...this.problems];
  }

  private find(specs: SpecFile[][], kind: string, device: string): Found | undefined {
    // Later directories win; within one, two definitions conflict.
    for (let i = specs.length - 1; i >= 0; i--) {
      const hits = specs[i]!.filter((s) => s.kind === kind && s.devices.has(device));
      if (hits.length) return { spec: hits[0]!, edits: hits[0]!.devices.get(device), conflicts: hits.slice(1).map((s) => s.file) };
    }
    return undefined;
  }

  /**
   * The edits the named devices make, host device numbers filled in. An
   * unqualified name, a device no spec defines, a conflict or a device node
   * missing on the host is INVALID_ARGUMENT (or NOT_FOUND for the node)
   * naming the device.
   */
  async resolve(requests: readonly CdiRequest[]): Promise<ResolvedCdi> {
    const out: ResolvedCdi = { devices: [], env: [], nodes: [], mounts: [], hooks: [], additionalGids: [] };
    if (!requests.length) return out;
    const names = requests.map((r) => r.name);
    const fieldOf = new Map(requests.map((r) => [r.name, r.field]));
    const specs = await this.current();
    const specsApplied = new Set<SpecFile>();
    const editsInOrder: { device: string; edits: CdiEdits }[] = [];
    for (const name of names) {
      const q = parseQualifiedName(name);
      if (!q) throw invalidArgument(`${fieldOf.get(name)}: CDI device "${name}" is not a fully qualified name (vendor.com/class=device)`);
      const found = this.find(specs, q.kind, q.device);
      if (!found) {
        const broken = this.problems.filter((p) => p.includes('/'));
        const hint = broken.length ? `; unusable spec files: ${broken.join('; ')}` : '';
        throw invalidArgument(`${fieldOf.get(name)}: CDI device "${name}" is not defined by any spec in ${this.dirs.join(', ')}${hint}`);
      }
      if (found.conflicts.length) {
        throw invalidArgument(`${fieldOf.get(name)}: CDI device "${name}" is defined by more than one spec: ${[found.spec.file, ...found.conflicts].join(', ')}`);
      }
      if (!specsApplied.has(found.spec)) {
        specsApplied.add(found.spec);
        if (found.spec.edits) editsInOrder.push({ device: name, edits: found.spec.edits });
      }
      if (found.edits) editsInOrder.push({ device: name, edits: found.edits });
      out.devices.push(name);
    }
    for (const { device, edits } of editsInOrder) {
      out.env.push(...(edits.env ?? []));
      out.mounts.push(...(edits.mounts ?? []));
      out.hooks.push(...(edits.hooks ?? []));
      out.additionalGids.push(...(edits.additionalGids ?? []));
      for (const n of edits.deviceNodes ?? []) out.nodes.push(await resolveNode(n, device));
    }
    return out;
  }
}

async function resolveNode(n: CdiDeviceNode, device: string): Promise<ResolvedCdiNode> {
  const hostPath = n.hostPath ?? n.path;
  let { type, major, minor, fileMode } = n;
  if (type === undefined || (type !== 'p' && (major === undefined || minor === undefined)) || fileMode === undefined) {
    const st = await stat(hostPath).catch(() => undefined);
    if (!st) throw notFound(`CDI device "${device}": device node ${hostPath} does not exist on this host`);
    const hostType = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : undefined;
    if (!hostType) throw invalidArgument(`CDI device "${device}": ${hostPath} is not a device node`);
    type ??= hostType;
    if (type !== 'p') {
      const nums = devNumbers(st.rdev);
      major ??= nums.major;
      minor ??= nums.minor;
    }
    fileMode ??= st.mode & 0o7777;
  }
  return {
    path: n.path, hostPath, type, major: major ?? 0, minor: minor ?? 0, fileMode, permissions: n.permissions ?? 'rwm', uid: n.uid, gid: n.gid,
  };
}

/**
 * Applies resolved CDI edits to an OCI spec built by buildSpec: what a
 * device sets replaces what the spec had at the same path, key or
 * destination, as the CDI library does.
 */
export function applyCdi(spec: Record<string, unknown>, cdi: ResolvedCdi): void {
  if (!cdi.devices.length) return;
  const proc = spec.process as { env: string[]; user: { additionalGids?: number[] } };
  const env = new Map(proc.env.map((e) => [e.slice(0, e.indexOf('=')), e]));
  for (const e of cdi.env) env.set(e.slice(0, e.indexOf('=')), e);
  proc.env = [...env.values()];
  if (cdi.additionalGids.length) proc.user.additionalGids = [...new Set([...(proc.user.additionalGids ?? []), ...cdi.additionalGids])];

  const linux = spec.linux as { devices: Record<string, unknown>[]; resources: { devices: Record<string, unknown>[] } };
  for (const n of cdi.nodes) {
    linux.devices = linux.devices.filter((d) => d.path !== n.path);
    const dev: Record<string, unknown> = { path: n.path, type: n.type, major: n.major, minor: n.minor };
    if (n.fileMode !== undefined) dev.fileMode = n.fileMode;
    dev.uid = n.uid ?? 0;
    dev.gid = n.gid ?? 0;
    linux.devices.push(dev);
    if (n.type === 'c' || n.type === 'b') linux.resources.devices.push({ allow: true, type: n.type, major: n.major, minor: n.minor, access: n.permissions });
  }

  let mounts = spec.mounts as Record<string, unknown>[];
  for (const m of cdi.mounts) {
    mounts = mounts.filter((x) => x.destination !== m.containerPath);
    const type = m.type ?? 'bind';
    let options = m.options ?? [];
    if (type === 'bind' && !options.includes('bind') && !options.includes('rbind')) options = ['rbind', ...options];
    mounts.push({ destination: m.containerPath, type, source: m.hostPath, options });
  }
  spec.mounts = mounts;

  if (cdi.hooks.length) {
    const hooks = (spec.hooks ?? {}) as Record<string, Record<string, unknown>[]>;
    for (const h of cdi.hooks) {
      const entry: Record<string, unknown> = { path: h.path };
      if (h.args) entry.args = h.args;
      if (h.env) entry.env = h.env;
      if (h.timeout !== undefined) entry.timeout = h.timeout;
      (hooks[h.hookName] ??= []).push(entry);
    }
    spec.hooks = hooks;
  }
}
