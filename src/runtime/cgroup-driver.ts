// runtime.cgroup_driver. berthd makes container cgroups itself, through
// cgroupfs paths handed to runc; it has no systemd driver (transient scopes
// over D-Bus, `runc --systemd-cgroup`). Accepting `systemd` anyway would tell
// kubelet SYSTEMD in RuntimeConfig and then refuse every pod whose
// cgroup_parent is a slice name, so the setting is refused at start instead,
// with why for this host.
import { readFileSync, statSync } from 'node:fs';

export interface InitSystem {
  /** sd_booted(3): /run/systemd/system is a directory only when systemd is the init system. */
  systemdBooted: boolean;
  /** PID 1's command name. */
  pid1: string;
}

export function initSystem(): InitSystem {
  let systemdBooted = false;
  try {
    systemdBooted = statSync('/run/systemd/system').isDirectory();
  } catch {
    // absent: not booted with systemd
  }
  let pid1 = '';
  try {
    pid1 = readFileSync('/proc/1/comm', 'utf8').trim();
  } catch {
    // hidden /proc (hidepid): the directory test above decides alone
  }
  return { systemdBooted, pid1 };
}

/** Why berthd cannot run with `driver` on this host, or undefined when it can. */
export function cgroupDriverProblem(driver: string, init: InitSystem = initSystem()): string | undefined {
  if (driver !== 'systemd') return undefined;
  const fix = 'set it to "cgroupfs" and run kubelet with --cgroup-driver=cgroupfs (cgroupDriver: cgroupfs)';
  if (!init.systemdBooted) {
    const pid1 = init.pid1 ? `PID 1 is "${init.pid1}"` : 'PID 1 is not systemd';
    return `"systemd" needs systemd as PID 1, and here ${pid1} (/run/systemd/system does not exist); ${fix}`;
  }
  return `"systemd" is not implemented by berthd, which manages container cgroups through cgroupfs only; ${fix}`;
}

/**
 * The cgroupfs path of a systemd slice: systemd nests a slice under the one
 * named by its name up to the last dash, so `kubepods-besteffort-pod1234.slice`
 * lives at /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice
 * (what runc's systemd driver computes from kubelet's cgroup_parent).
 *
 * Not called yet: it is the conversion a systemd driver needs, and the driver
 * is refused at start (cgroupDriverProblem) until it exists.
 */
export function systemdSlicePath(slice: string): string {
  const suffix = '.slice';
  if (!slice.endsWith(suffix) || slice === suffix || slice.includes('/')) {
    throw new Error(`"${slice}" is not a systemd slice name (NAME.slice, no "/")`);
  }
  const name = slice.slice(0, -suffix.length);
  if (name === '-') return '/'; // the root slice
  const parts = name.split('-');
  if (parts.some((p) => p === '')) throw new Error(`"${slice}" is not a systemd slice name (empty part between dashes)`);
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('-')}${suffix}`).join('');
}
