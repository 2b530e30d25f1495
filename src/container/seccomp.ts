// The RuntimeDefault seccomp profile. The policy is not ours to keep: it comes
// from the profile the container tools maintain (containers-common's
// /usr/share/containers/seccomp.json, CRI-O's and podman's default, in the
// format Docker introduced), read once at start. That format is richer than
// what an OCI runtime takes: rules carry `includes`/`excludes` conditions on
// the container's capabilities, the host architecture and the kernel version,
// and `archMap` lists the secondary ABIs of each architecture. Those are
// resolved here, per container, into the plain LinuxSeccomp of the OCI spec.
// A copy of the same policy is built in (seccomp-builtin.ts) for hosts
// without the file.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { BUILTIN_PROFILE } from './seccomp-builtin.js';

/** One rule of the OCI runtime spec's LinuxSeccomp. */
export interface SeccompSyscallRule {
  names: string[];
  action: string;
  args?: SeccompArg[];
  errnoRet?: number;
}

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

/** The OCI runtime spec's LinuxSeccomp: what runc applies. */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls: SeccompSyscallRule[];
  /** Where the runtime sends the notification fd of SCMP_ACT_NOTIFY rules (the seccomp notifier). */
  listenerPath?: string;
  listenerMetadata?: string;
}

/** A condition of the maintained format: every field given must hold. */
export interface ProfileCondition {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface ProfileRule {
  name?: string;
  names?: string[];
  action: string;
  args?: SeccompArg[] | null;
  errnoRet?: number;
  /** containers-common spells the errno out beside errnoRet. */
  errno?: string;
  comment?: string;
  includes?: ProfileCondition;
  excludes?: ProfileCondition;
}

/** The maintained profile format (containers-common, Docker, Moby). */
export interface MaintainedProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  defaultErrno?: string;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: ProfileRule[];
}

/** What a profile's conditions are evaluated against. */
export interface SeccompHost {
  /** The native architecture as libseccomp names it (`amd64`, `arm64`, …), the name `arches` conditions use. */
  arch: string;
  /** Kernel major and minor version. */
  kernel: [number, number];
}

// Node's process.arch → libseccomp's native architecture name and its SCMP_ARCH_ constant.
const ARCHES: Record<string, [string, string]> = {
  x64: ['amd64', 'SCMP_ARCH_X86_64'],
  arm64: ['arm64', 'SCMP_ARCH_AARCH64'],
  ia32: ['x86', 'SCMP_ARCH_X86'],
  arm: ['arm', 'SCMP_ARCH_ARM'],
  ppc64: ['ppc64le', 'SCMP_ARCH_PPC64LE'],
  s390x: ['s390x', 'SCMP_ARCH_S390X'],
  mips64el: ['mipsel64', 'SCMP_ARCH_MIPSEL64'],
  riscv64: ['riscv64', 'SCMP_ARCH_RISCV64'],
  loong64: ['loong64', 'SCMP_ARCH_LOONGARCH64'],
};

// Only for profiles that name an errno without its number.
const ERRNOS: Record<string, number> = { EPERM: 1, ENOENT: 2, EACCES: 13, EINVAL: 22, ENOSYS: 38, ENOTSUP: 95, EOPNOTSUPP: 95 };

function parseKernel(text: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function thisHost(): SeccompHost {
  return { arch: ARCHES[process.arch]?.[0] ?? process.arch, kernel: parseKernel(release()) ?? [0, 0] };
}

function kernelAtLeast(host: SeccompHost, min: string): boolean {
  const want = parseKernel(min);
  if (!want) return false;
  return host.kernel[0] > want[0] || (host.kernel[0] === want[0] && host.kernel[1] >= want[1]);
}

/** Whether a rule applies to a container holding `caps` on `host`. */
function applies(rule: ProfileRule, caps: ReadonlySet<string>, host: SeccompHost): boolean {
  const inc = rule.includes ?? {};
  const exc = rule.excludes ?? {};
  // Includes: every capability named must be held; excludes: holding any one of them drops the rule.
  if (inc.caps?.length && !inc.caps.every((c) => caps.has(c))) return false;
  if (exc.caps?.some((c) => caps.has(c))) return false;
  if (inc.arches?.length && !inc.arches.includes(host.arch)) return false;
  if (exc.arches?.includes(host.arch)) return false;
  if (inc.minKernel && !kernelAtLeast(host, inc.minKernel)) return false;
  if (exc.minKernel && kernelAtLeast(host, exc.minKernel)) return false;
  return true;
}

function errnoOf(ret: number | undefined, name: string | undefined): number | undefined {
  if (ret !== undefined) return ret;
  return name ? ERRNOS[name] : undefined;
}

function architectures(p: MaintainedProfile, host: SeccompHost): string[] | undefined {
  if (p.architectures?.length) return [...p.architectures];
  if (!p.archMap?.length) return undefined;
  const native = Object.values(ARCHES).find(([name]) => name === host.arch)?.[1];
  const entry = p.archMap.find((a) => a.architecture === native);
  // An architecture the map does not know: the runtime filters the native ABI only.
  if (!entry) return native ? [native] : undefined;
  return [entry.architecture, ...(entry.subArchitectures ?? [])];
}

/** The OCI profile for a container holding `capabilities` (CAP_* names), its conditions resolved. */
export function resolveProfile(p: MaintainedProfile, capabilities: readonly string[], host: SeccompHost = thisHost()): SeccompProfile {
  const caps = new Set(capabilities);
  const syscalls: SeccompSyscallRule[] = [];
  for (const r of p.syscalls ?? []) {
    if (!applies(r, caps, host)) continue;
    const names = r.names?.length ? r.names : r.name ? [r.name] : [];
    if (!names.length) continue;
    const rule: SeccompSyscallRule = { names, action: r.action };
    if (r.args?.length) rule.args = r.args;
    const errnoRet = errnoOf(r.errnoRet, r.errno);
    if (errnoRet !== undefined) rule.errnoRet = errnoRet;
    syscalls.push(rule);
  }
  const out: SeccompProfile = { defaultAction: p.defaultAction, syscalls };
  const defaultErrnoRet = errnoOf(p.defaultErrnoRet, p.defaultErrno);
  if (defaultErrnoRet !== undefined) out.defaultErrnoRet = defaultErrnoRet;
  const arches = architectures(p, host);
  if (arches) out.architectures = arches;
  if (p.flags?.length) out.flags = [...p.flags];
  if (p.listenerPath) out.listenerPath = p.listenerPath;
  if (p.listenerMetadata) out.listenerMetadata = p.listenerMetadata;
  return out;
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function checkCondition(c: unknown, where: string): void {
  if (c === undefined || c === null) return;
  if (typeof c !== 'object' || Array.isArray(c)) throw new Error(`${where} must be an object`);
  const o = c as Record<string, unknown>;
  for (const k of ['caps', 'arches'] as const) {
    if (o[k] !== undefined && o[k] !== null && !isStrings(o[k])) throw new Error(`${where}.${k} must be a list of strings`);
  }
  if (o.minKernel !== undefined && (typeof o.minKernel !== 'string' || !parseKernel(o.minKernel))) {
    throw new Error(`${where}.minKernel must be a version such as "5.8"`);
  }
}

/** Checks the shape of a maintained-format profile; the message names the field at fault. */
export function parseMaintainedProfile(text: string): MaintainedProfile {
  const p = JSON.parse(text) as unknown;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new Error('not a JSON object');
  const o = p as Record<string, unknown>;
  if (typeof o.defaultAction !== 'string' || !o.defaultAction) throw new Error('defaultAction must be a non-empty string');
  if (o.architectures !== undefined && o.architectures !== null && !isStrings(o.architectures)) throw new Error('architectures must be a list of strings');
  if (Array.isArray(o.architectures) && o.architectures.length && Array.isArray(o.archMap) && o.archMap.length) {
    throw new Error('give either architectures or archMap, not both');
  }
  if (o.archMap !== undefined && o.archMap !== null) {
    if (!Array.isArray(o.archMap)) throw new Error('archMap must be a list');
    o.archMap.forEach((a: unknown, i) => {
      const e = a as Record<string, unknown> | null;
      if (typeof e?.architecture !== 'string') throw new Error(`archMap[${i}].architecture must be a string`);
      if (e.subArchitectures !== undefined && e.subArchitectures !== null && !isStrings(e.subArchitectures)) {
        throw new Error(`archMap[${i}].subArchitectures must be a list of strings`);
      }
    });
  }
  if (o.syscalls !== undefined && o.syscalls !== null) {
    if (!Array.isArray(o.syscalls)) throw new Error('syscalls must be a list');
    o.syscalls.forEach((r: unknown, i) => {
      const e = r as Record<string, unknown> | null;
      const where = `syscalls[${i}]`;
      if (typeof e?.action !== 'string') throw new Error(`${where}.action must be a string`);
      if (e.names !== undefined && e.names !== null && !isStrings(e.names)) throw new Error(`${where}.names must be a list of strings`);
      if (e.name !== undefined && typeof e.name !== 'string') throw new Error(`${where}.name must be a string`);
      if (e.args !== undefined && e.args !== null && !Array.isArray(e.args)) throw new Error(`${where}.args must be a list`);
      checkCondition(e.includes, `${where}.includes`);
      checkCondition(e.excludes, `${where}.excludes`);
    });
  }
  return o as unknown as MaintainedProfile;
}

/** Where the RuntimeDefault policy in force came from (Status and the log say it). */
export interface RuntimeDefaultSource {
  source: 'file' | 'builtin';
  /** The file read, or the one configured when the built-in copy is used instead. */
  path: string;
  /** Why the built-in copy is in use. */
  reason?: string;
}

let active: { profile: MaintainedProfile; info: RuntimeDefaultSource } | undefined;

/**
 * Reads the maintained profile at `path` and makes it the RuntimeDefault of
 * every container from now on. An absent file (or an empty path) selects the
 * built-in copy; a file that is there but unreadable or malformed throws,
 * since silently running with another policy than the one installed would
 * hide the operator's mistake.
 */
export function loadRuntimeDefault(path: string): RuntimeDefaultSource {
  if (path === '') {
    active = { profile: BUILTIN_PROFILE, info: { source: 'builtin', path, reason: 'no profile file configured' } };
    return active.info;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
    active = { profile: BUILTIN_PROFILE, info: { source: 'builtin', path, reason: `${path} does not exist` } };
    return active.info;
  }
  let profile: MaintainedProfile;
  try {
    profile = parseMaintainedProfile(text);
  } catch (err) {
    throw new Error(`${path} is not a seccomp profile: ${(err as Error).message}`, { cause: err });
  }
  active = { profile, info: { source: 'file', path } };
  return active.info;
}

/** The RuntimeDefault profile in force (the built-in copy until loadRuntimeDefault ran). */
export function runtimeDefaultSource(): RuntimeDefaultSource {
  return active?.info ?? { source: 'builtin', path: '', reason: 'no profile loaded' };
}

/** The RuntimeDefault profile for a container holding `capabilities` (CAP_* names). */
export function runtimeDefaultProfile(capabilities: readonly string[]): SeccompProfile {
  return resolveProfile(active?.profile ?? BUILTIN_PROFILE, capabilities);
}
