// Mount propagation of host paths bound into containers. berthd never changes
// the host's mounts to make a source propagate: as containerd does, a
// Bidirectional (rshared) mount needs a source on a shared mount and a
// HostToContainer (rslave) one a source on a shared or slave mount, made so
// by whoever owns the host (kubelet's volume plugins, an administrator).
import { readFile, realpath } from 'node:fs/promises';
import { failedPrecondition } from '../util/errors.js';
import { echo } from '../util/echo.js';

interface MountInfo { mountPoint: string; optional: string }

// mountinfo escapes space, tab, newline and backslash in paths as octal.
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

async function mountInfo(): Promise<MountInfo[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter(Boolean).map((l) => {
    const f = l.split(' ');
    const dash = f.indexOf('-');
    return { mountPoint: unescape(f[4]!), optional: f.slice(6, dash).join(' ') };
  });
}

/** The mount a path lives on: the longest mount point above it, the last mounted when stacked. */
function mountOf(path: string, infos: MountInfo[]): MountInfo | undefined {
  let best: MountInfo | undefined;
  for (const m of infos) {
    const under = path === m.mountPoint || path.startsWith(m.mountPoint === '/' ? '/' : `${m.mountPoint}/`);
    if (under && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/**
 * Refuses (FAILED_PRECONDITION) a source that cannot propagate as `mode`
 * asks. `source` is resolved (symlinks followed); a missing one is left for
 * the caller to report. `field` names the request field in the message.
 */
export async function checkPropagationSource(source: string, mode: 'rshared' | 'rslave', field = 'mount source'): Promise<void> {
  const path = await realpath(source).catch(() => undefined);
  if (path === undefined) return;
  const m = mountOf(path, await mountInfo());
  const opt = m?.optional ?? '';
  if (/(^| )shared:/.test(opt)) return;
  if (mode === 'rslave' && /(^| )master:/.test(opt)) return;
  const want = mode === 'rshared' ? 'a shared mount (Bidirectional propagation)' : 'a shared or slave mount (HostToContainer propagation)';
  throw failedPrecondition(`${field}: ${echo(source)} is on mount ${echo(m?.mountPoint ?? '?')}, which is not ${want}; make it so on the host first (mount --make-rshared)`);
}
