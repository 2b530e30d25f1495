import { readFile } from 'node:fs/promises';
import { mount, MS } from '../util/mount.js';

interface MountInfo { mountPoint: string; optional: string }

async function mountInfo(): Promise<MountInfo[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter(Boolean).map((l) => {
    const f = l.split(' ');
    const dash = f.indexOf('-');
    return { mountPoint: f[4]!.replace(/\\040/g, ' '), optional: f.slice(6, dash).join(' ') };
  });
}

function mountOf(path: string, infos: MountInfo[]): MountInfo | undefined {
  let best: MountInfo | undefined;
  for (const m of infos) {
    const under = path === m.mountPoint || path.startsWith(m.mountPoint === '/' ? '/' : `${m.mountPoint}/`);
    if (under && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/**
 * Makes the host side of a propagating mount able to propagate: rshared needs
 * a shared peer group, rslave a shared or slave one. When the path's mount is
 * private, the path is bind-mounted onto itself as a shared mount. Returns
 * true when it did so (the caller unmounts it when the container goes).
 */
export async function ensurePropagation(source: string, mode: 'rshared' | 'rslave'): Promise<boolean> {
  const m = mountOf(source, await mountInfo());
  if (m && /shared:/.test(m.optional)) return false;
  if (m && mode === 'rslave' && /master:/.test(m.optional)) return false;
  if (m?.mountPoint !== source) await mount(source, source, null, MS.BIND);
  await mount(null, source, null, MS.SHARED | MS.REC);
  return m?.mountPoint !== source;
}
