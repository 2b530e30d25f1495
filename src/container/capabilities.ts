import { readFileSync } from 'node:fs';
import { invalidArgument } from '../util/errors.js';
import { echo } from '../util/echo.js';

// Capability names by number, as the kernel numbers them.
const NAMES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
].map((n) => `CAP_${n}`);

/** What an unprivileged container gets, the set every CRI runtime defaults to. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

let held: string[] | undefined;

function capabilitiesIn(status: string): string[] {
  const m = /^CapPrm:\s*([0-9a-f]+)$/m.exec(status);
  const mask = BigInt(`0x${m?.[1] ?? '0'}`);
  return NAMES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}

/**
 * The capabilities this daemon holds (read once), or those a given
 * /proc/<pid>/status lists. "All capabilities" means these: asking runc for
 * one we lack (CAP_SYS_RESOURCE on some hosts) fails the start.
 */
export function heldCapabilities(status?: string): string[] {
  if (status !== undefined) return capabilitiesIn(status);
  held ??= capabilitiesIn(readFileSync('/proc/self/status', 'utf8'));
  return held;
}

/** A capability the kernel knows, with or without CAP_, in any case (ALL is not one). */
export function isCapabilityName(name: string): boolean {
  const up = name.toUpperCase();
  return NAMES.includes(up.startsWith('CAP_') ? up : `CAP_${up}`);
}

function normalise(name: string, field: string): string {
  const up = name.toUpperCase();
  if (up !== 'ALL' && !isCapabilityName(name)) throw invalidArgument(`${field}: unknown capability ${echo(name)}`);
  return up === 'ALL' ? 'ALL' : up.startsWith('CAP_') ? up : `CAP_${up}`;
}

/** Applies CRI add/drop (either may say ALL) to the default set, as kubelet expects: drop ALL first, then add. */
export function effectiveCapabilities(add: string[], drop: string[], all = heldCapabilities()): string[] {
  const a = add.map((c) => normalise(c, 'capabilities.add_capabilities'));
  const d = drop.map((c) => normalise(c, 'capabilities.drop_capabilities'));
  let caps = new Set(DEFAULT_CAPABILITIES);
  if (d.includes('ALL')) caps = new Set();
  for (const c of d) caps.delete(c);
  if (a.includes('ALL')) for (const c of all) caps.add(c);
  for (const c of a) if (c !== 'ALL') caps.add(c);
  return [...caps].filter((c) => all.includes(c)).sort((x, y) => NAMES.indexOf(x) - NAMES.indexOf(y));
}
