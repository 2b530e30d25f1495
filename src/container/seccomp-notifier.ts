// The seccomp notifier (M8), as CRI-O's: a container that opts in (an
// annotation on it or its pod) runs its profile with every denial turned
// into a user notification. The OCI runtime hands the notification fd to
// berthd's listener socket (`linux.seccomp.listenerPath`); berthd answers
// each notification with the errno the profile would have returned, so the
// program sees what it would have seen, and counts the denial per pod,
// container and system call, logs it, and, when the annotation says `stop`,
// stops the container at the first one.
//
// A restarted berthd has lost the fds the runtime handed to the one before
// (the kernel then answers those containers' denials with ENOSYS, uncounted);
// processes exec'd into them afterwards are counted again.
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SeccompProfile } from './seccomp.js';
import { loadNativeModule } from '../util/native.js';

/** CRI-O's annotation, and Berth's own: on the container or its pod. */
export const NOTIFIER_ANNOTATIONS = ['io.kubernetes.cri-o.seccompNotifierAction', 'berth.io/seccomp-notifier'];

export type NotifierAction = 'log' | 'stop';

/** What a container's denials answer with, kept in its record so a restart can take them up again. */
export interface NotifierPlan {
  action: NotifierAction;
  /** errno per system call the profile denies by name; others get `defaultErrno`. */
  errnos: Record<string, number>;
  defaultErrno: number;
}

const EPERM = 1;

let known: string[] | undefined;
/** Every system call name of this host's native architecture (libseccomp's table). */
function knownSyscalls(): string[] {
  known ??= loadNativeModule().syscallNames();
  return known;
}

/** The action a container opted into: its own annotation first, then its pod's; `stop` stops, any other value logs. */
export function notifierAction(container: Record<string, string>, pod: Record<string, string>): NotifierAction | undefined {
  for (const annotations of [container, pod]) {
    for (const key of NOTIFIER_ANNOTATIONS) {
      const v = annotations[key];
      if (v === undefined) continue;
      return v.trim().toLowerCase() === 'stop' ? 'stop' : 'log';
    }
  }
  return undefined;
}

/**
 * The profile with its denials (SCMP_ACT_ERRNO, the default action
 * included) turned into notifications to `listenerPath`, and the errno each
 * would have answered with.
 */
export function notifyingProfile(p: SeccompProfile, listenerPath: string, containerId: string, action: NotifierAction): { profile: SeccompProfile; plan: NotifierPlan } {
  const errnos: Record<string, number> = {};
  const denies = (a: string): boolean => a === 'SCMP_ACT_ERRNO';
  const syscalls = p.syscalls.map((r) => {
    if (!denies(r.action)) return r;
    // A name denied only under some arguments keeps the first errno given for it.
    for (const n of r.names) errnos[n] ??= r.errnoRet ?? EPERM;
    const { errnoRet: _e, ...rest } = r;
    return { ...rest, action: 'SCMP_ACT_NOTIFY' };
  });
  // The OCI runtimes refuse SCMP_ACT_NOTIFY as the default action: system
  // calls the profile does not name at all are listed as notifications of
  // their own (with the default errno), so they are counted too; the default
  // action stays for numbers no name is known for.
  const named = new Set(p.syscalls.flatMap((r) => r.names));
  const unnamed = denies(p.defaultAction) ? knownSyscalls().filter((n) => !named.has(n)) : [];
  const defaultErrno = p.defaultErrnoRet ?? EPERM;
  if (unnamed.length) syscalls.push({ names: unnamed, action: 'SCMP_ACT_NOTIFY' });
  for (const n of unnamed) errnos[n] = defaultErrno;
  const profile: SeccompProfile = { ...p, syscalls, listenerPath, listenerMetadata: containerId };
  return { profile, plan: { action, errnos, defaultErrno } };
}

export interface NotifiedContainer {
  id: string;
  namespace: string;
  pod: string;
  name: string;
  plan: NotifierPlan;
}

/** The listener: one per berthd, on `<daemon.state>/seccomp.sock`. */
export class SeccompNotifier {
  private readonly containers = new Map<string, NotifiedContainer>();
  private listening = false;

  constructor(
    readonly socketPath: string,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Called once per container, at its first denial, when its plan says stop. */
    private readonly onStop: (containerId: string, syscall: string) => void,
  ) {}

  /** Listens from the first container that opts in on (most nodes never do). */
  private ensureListening(): void {
    if (this.listening) return;
    loadNativeModule().seccompListen(this.socketPath, (fd, state) => this.connected(fd, state));
    this.listening = true;
  }

  register(c: NotifiedContainer): void {
    this.ensureListening();
    this.containers.set(c.id, c);
  }

  unregister(id: string): void {
    this.containers.delete(id);
  }

  private connected(fd: number, state: string): void {
    const native = loadNativeModule();
    let metadata = '';
    try {
      metadata = String((JSON.parse(state) as { metadata?: unknown }).metadata ?? '');
    } catch {
      // not the runtime's message: the fd is closed below
    }
    const c = this.containers.get(metadata);
    if (!c) {
      this.log.warn({ container: metadata.slice(0, 64) }, 'seccomp notification fd for a container that did not opt in; closed (its denials get ENOSYS)');
      native.seccompClose(fd);
      return;
    }
    this.log.debug({ container: c.id, fd }, 'seccomp notification fd received');
    let stopped = false;
    native.seccompWatch(fd, (pid, _arch, nr, name) => {
      const syscall = name || `#${nr}`;
      const errno = c.plan.errnos[syscall] ?? c.plan.defaultErrno;
      this.metrics.seccompDenials.inc({ namespace: c.namespace, pod: c.pod, container: c.name, syscall });
      this.log.warn({ container: c.id, pod: `${c.namespace}/${c.pod}`, name: c.name, syscall, pid, errno }, 'seccomp denied a system call');
      if (c.plan.action === 'stop' && !stopped) {
        stopped = true;
        this.onStop(c.id, syscall);
      }
      return errno;
    }, () => undefined);
  }
}
