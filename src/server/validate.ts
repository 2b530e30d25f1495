// Checks of CRI request fields against what they mean, shared by the
// converters in this folder. Every failure is INVALID_ARGUMENT naming the
// field (its path in the request, snake case as in api.proto) and quoting
// the value cut short (util/echo.ts). Converters run these before a request
// reaches a domain service, so the services, the runtime, CNI plugins and
// files on the host never see a value the request itself got wrong.
import { isIP } from 'node:net';
import { invalidArgument, type BerthError } from '../util/errors.js';
import { echo } from '../util/echo.js';
import { ID_LENGTH, isIdOrPrefix } from '../util/ids.js';
import { MAX_TIMER_SECONDS } from '../util/timers.js';

/** Size limits of request fields (bytes of UTF-8 unless said otherwise). */
export const LIMITS = {
  /** Pod and container names: a Kubernetes DNS subdomain's length. */
  name: 253,
  /** Pod namespace: a DNS label. */
  namespace: 63,
  uid: 253,
  path: 4096,
  /** One argument or environment entry: the kernel's MAX_ARG_STRLEN less its NUL. */
  arg: 128 * 1024 - 1,
  /** Arguments (or environment entries) of one process. */
  args: 4096,
  /** Everything a process's argv and environment hold; the kernel allows about 2 MiB. */
  argvBytes: 1024 * 1024,
  /** Entries of a label or annotation map. */
  mapEntries: 1024,
  /** A label or annotation key: a DNS subdomain prefix, a slash and a 63-character name. */
  mapKey: 317,
  /** All keys and values of one map (Kubernetes' limit on a pod's annotations). */
  mapBytes: 256 * 1024,
  /** A list of paths, mounts, devices, ports, groups or capabilities. */
  list: 1024,
  /** A short free-form string (a handler name, a SELinux part, a version). */
  short: 256,
  /** A credential (password, token). */
  secret: 64 * 1024,
  sysctlValue: 4096,
  dnsServers: 32,
  dnsEntries: 32,
  dnsEntry: 253,
} as const;

export function bad(field: string, why: string): BerthError {
  return invalidArgument(`${field}: ${why}`);
}

function badValue(field: string, value: unknown, why: string): BerthError {
  return invalidArgument(`${field} ${echo(value)} ${why}`);
}

// ---- strings -----------------------------------------------------------------

export interface StringRules {
  required?: boolean;
  /** Maximum size in bytes (default LIMITS.short). */
  max?: number;
  /** Also refuse control characters (newline, tab, …) besides NUL. */
  printable?: boolean;
}

/** A string field: present when required, no NUL (never valid in a path, argument or name), bounded. */
export function str(field: string, v: unknown, r: StringRules = {}): string {
  if (v === undefined || v === null) v = '';
  if (typeof v !== 'string') throw badValue(field, v, 'is not a string');
  if (v === '') {
    if (r.required) throw bad(field, 'is required');
    return v;
  }
  const max = r.max ?? LIMITS.short;
  // Cheap bound first: a UTF-8 string is at least as many bytes as UTF-16 units.
  if (v.length > max || Buffer.byteLength(v) > max) throw badValue(field, v, `is longer than ${max} bytes`);
  if (v.includes('\0')) throw badValue(field, v, 'contains a NUL character');
  // eslint-disable-next-line no-control-regex
  if (r.printable && /[\x00-\x1f\x7f]/.test(v)) throw badValue(field, v, 'contains a control character');
  return v;
}

/** Refuses strings that are not one of the shapes `re` allows. */
export function matching(field: string, v: string, re: RegExp, what: string): string {
  if (v !== '' && !re.test(v)) throw badValue(field, v, `is not ${what}`);
  return v;
}

/** A list field: bounded in length; each element checked by `each` with its index in the field name. */
export function list<T, U>(field: string, v: T[] | undefined | null, max: number, each: (x: T, f: string, i: number) => U): U[] {
  const a = v ?? [];
  if (a.length > max) throw bad(field, `has ${a.length} entries; at most ${max} are allowed`);
  return a.map((x, i) => each(x, `${field}[${i}]`, i));
}

// ---- names and IDs -----------------------------------------------------------

// Pod and container names as kubelet and the CRI test suite send them: letters
// (either case, as critest uses), digits, '-' and '.', starting and ending
// with a letter or digit. Names become parts of reserved names, hostnames,
// CNI_ARGS (';' and '=' separated) and conmon arguments, so nothing else.
const NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const UID = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** A pod or container name. */
export function name(field: string, v: unknown): string {
  return matching(field, str(field, v, { required: true, max: LIMITS.name }), NAME, 'a name (letters, digits, "-" and ".", starting and ending with a letter or digit)');
}

/** A pod's namespace: a DNS label, as Kubernetes namespaces are. */
export function namespace(field: string, v: unknown): string {
  return matching(field, str(field, v, { required: true, max: LIMITS.namespace }), DNS_LABEL, 'a DNS label (lowercase letters, digits and "-")');
}

/** A pod's UID: a UUID in Kubernetes; any token of letters, digits, '.', '_' and '-' is taken. */
export function uid(field: string, v: unknown): string {
  return matching(field, str(field, v, { required: true, max: LIMITS.uid }), UID, 'a UID (letters, digits, ".", "_" and "-")');
}

/** A pod or container ID, or a unique prefix of one, as every service resolves them. */
export function id(field: string, v: unknown, required = true): string {
  const s = str(field, v, { required, max: ID_LENGTH });
  if (s !== '' && !isIdOrPrefix(s)) throw badValue(field, s, `is not an ID (1 to ${ID_LENGTH} lowercase hexadecimal characters)`);
  return s;
}

// ---- paths -------------------------------------------------------------------

export interface PathRules {
  required?: boolean;
  /** Refuse `..` components (paths on the host that must stay where they say). */
  noDotDot?: boolean;
}

const hasDotDot = (p: string): boolean => p.split('/').includes('..');

/** An absolute path. */
export function absPath(field: string, v: unknown, r: PathRules = {}): string {
  const p = str(field, v, { required: r.required, max: LIMITS.path });
  if (p === '') return p;
  if (!p.startsWith('/')) throw badValue(field, p, 'is not an absolute path');
  if (r.noDotDot && hasDotDot(p)) throw badValue(field, p, 'must not contain ".." components');
  return p;
}

/** A relative path that stays below the directory it is relative to. */
export function relPath(field: string, v: unknown): string {
  const p = str(field, v, { max: LIMITS.path });
  if (p === '') return p;
  if (p.startsWith('/')) throw badValue(field, p, 'must be a relative path');
  if (hasDotDot(p)) throw badValue(field, p, 'must not contain ".." components');
  return p;
}

// ---- enums -------------------------------------------------------------------

/**
 * An enum field. The schema loader gives a known value as its name and an
 * unknown one (a newer client, or a bad one) as its number, which is refused
 * rather than read as the default.
 */
export function enumValue<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw badValue(field, v, `is not one of ${allowed.join(', ')}`);
}

// ---- numbers -----------------------------------------------------------------

export interface IntRules {
  min?: number;
  max?: number;
}

/**
 * An int64 field (a decimal string from the loader; numbers are taken too).
 * Values outside the range, or past what a double holds exactly, are refused.
 */
export function int(field: string, v: unknown, r: IntRules = {}): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d{1,20}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw badValue(field, v, 'is not an integer in range');
  if (r.min !== undefined && n < r.min) throw badValue(field, v, `is below ${r.min}`);
  if (r.max !== undefined && n > r.max) throw badValue(field, v, `is above ${r.max}`);
  return n;
}

/** Largest user or group ID (uid_t is 32 bits; -1 means "unchanged" to the kernel). */
export const MAX_ID = 2 ** 32 - 2;

/** A port number; `min` 0 where 0 means "none". */
export function port(field: string, v: unknown, min: 0 | 1): number {
  return int(field, v, { min, max: 65535 });
}

/**
 * A timeout in seconds. Negative is refused. One longer than a timer can
 * hold (about 24.8 days) is `long`: 0 where 0 already means "no timeout",
 * else the longest a timer can wait.
 */
export function timeoutSeconds(field: string, v: unknown, long: 'none' | 'clamp'): number {
  const n = typeof v === 'string' && /^-?\d{1,20}$/.test(v) ? Number(v) : typeof v === 'number' && Number.isInteger(v) ? v : Number.NaN;
  if (Number.isNaN(n)) throw badValue(field, v, 'is not a number of seconds');
  if (n < 0) throw badValue(field, v, 'must not be negative');
  if (n > MAX_TIMER_SECONDS) return long === 'none' ? 0 : MAX_TIMER_SECONDS;
  return n;
}

// ---- addresses ----------------------------------------------------------------

/** An IPv4 or IPv6 address (no zone, no port, no prefix). */
export function ip(field: string, v: unknown, required = false): string {
  const s = str(field, v, { required, max: 64 });
  if (s !== '' && isIP(s) === 0) throw badValue(field, s, 'is not an IP address');
  return s;
}

/** address/prefix with the prefix in the address family's range. */
export function cidr(field: string, v: string): string {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(v);
  const family = m ? isIP(m[1]!) : 0;
  if (!m || family === 0 || Number(m[2]) > (family === 4 ? 32 : 128)) {
    throw badValue(field, v, 'is not a CIDR (address/prefix, prefix at most 32 for IPv4 and 128 for IPv6)');
  }
  return v;
}

// ---- maps --------------------------------------------------------------------

/** A label, annotation or selector map: bounded entries, keys non-empty, no NUL anywhere. */
export function stringMap(field: string, m: Record<string, string> | undefined | null, maxValue = LIMITS.mapBytes): Record<string, string> {
  const entries = Object.entries(m ?? {});
  if (entries.length > LIMITS.mapEntries) throw bad(field, `has ${entries.length} entries; at most ${LIMITS.mapEntries} are allowed`);
  let total = 0;
  for (const [k, v] of entries) {
    str(`${field} key`, k, { required: true, max: LIMITS.mapKey, printable: true });
    str(`${field}[${echo(k, 64)}]`, v, { max: maxValue });
    total += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (total > LIMITS.mapBytes) throw bad(field, `holds more than ${LIMITS.mapBytes} bytes`);
  }
  return m ?? {};
}

// ---- processes ---------------------------------------------------------------

/** A process's arguments: bounded in count and size each and together, no NUL (execve cannot pass one). */
export function argv(field: string, v: string[] | undefined | null, budget = { bytes: 0 }): string[] {
  return list(field, v, LIMITS.args, (a, f) => {
    str(f, a, { max: LIMITS.arg });
    budget.bytes += Buffer.byteLength(a) + 1;
    if (budget.bytes > LIMITS.argvBytes) throw bad(field, `arguments and environment hold more than ${LIMITS.argvBytes} bytes`);
    return a;
  });
}
