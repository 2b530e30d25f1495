// The stop signal sent to a container's init by berthd itself, as `runc
// kill` without --all does (find the init, check it is still the
// container's, kill(2)), without the runtime process: 20-50 ms a stop on a
// loaded node. Only where that cannot lose the signal; otherwise the caller
// leaves it to the runtime, whose slower path is what such a container has
// always had.
//
// A PID namespace's init receives no signal it has no handler for (SIGKILL
// and SIGSTOP aside): the kernel drops it. A container stopped right after
// it started may still be the runtime's init (a Go process that catches
// every signal, then execs and forgets the handler) or may not have set its
// own handler yet. So the direct signal needs the init to have exec'd, to
// catch the signal, and to have run for a moment.
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';

/** A container started more recently than this gets its stop signal from the runtime. */
export const SETTLE_MS = 100;

/** True when the SigCgt mask of a /proc/PID/status text has signal `num` (a handler is installed). */
export function catches(status: string, num: number): boolean {
  const hex = /^SigCgt:\s*([0-9a-f]+)/m.exec(status)?.[1];
  if (!hex || num < 1) return false;
  return ((BigInt(`0x${hex}`) >> BigInt(num - 1)) & 1n) === 1n;
}

/** True while the /proc/PID/status text is of a runtime's init that has not exec'd the container's process (runc names it "runc:[2:INIT]"). */
export function runtimeInit(status: string): boolean {
  const name = /^Name:\s*(.*)$/m.exec(status)?.[1] ?? '';
  return name.startsWith('runc:') || name === 'runc' || name === 'crun';
}

/**
 * Sends `signal` to the init of container `id` (process `pid`, started at
 * `startedAt`, epoch ms) when that is safe; false when the runtime should:
 * the PID unknown or no longer the container's (a recycled PID is in
 * another cgroup; the container's cgroup path ends in its ID), the signal
 * without a number here, the container just started, or its init not (yet)
 * catching the signal.
 */
export function signalInit(c: { id: string; pid: number; startedAt: number }, signal: string, now = Date.now()): boolean {
  const num = (osConstants.signals as Record<string, number | undefined>)[signal];
  if (!c.pid || num === undefined || !c.startedAt || now - c.startedAt < SETTLE_MS) return false;
  try {
    if (!readFileSync(`/proc/${c.pid}/cgroup`, 'utf8').includes(c.id)) return false;
    const status = readFileSync(`/proc/${c.pid}/status`, 'utf8');
    if (runtimeInit(status) || !catches(status, num)) return false;
    process.kill(c.pid, num);
    return true;
  } catch {
    return false;
  }
}
