// Host facts a container spec depends on: device numbers, resolved mount
// sources, seccomp profiles, the daemon's own oom_score_adj.
import { readFileSync } from 'node:fs';
import { stat, realpath, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, invalidArgument, notFound } from '../util/errors.js';
import { echo } from '../util/echo.js';
import { readRegularFile, UnreadableFile } from '../util/bounded-read.js';
import type { DeviceRequest, MountRequest } from './types.js';
import type { HostDevice } from './spec.js';
import { parseMaintainedProfile, resolveProfile, type SeccompProfile } from './seccomp.js';

export function devNumbers(rdev: number): { major: number; minor: number } {
  return { major: Number((BigInt(rdev) >> 8n) & 0xfffn), minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
}

async function deviceAt(hostPath: string, containerPath: string, permissions: string): Promise<HostDevice | undefined> {
  const st = await stat(hostPath);
  if (!st.isCharacterDevice() && !st.isBlockDevice()) return undefined;
  return { containerPath, type: st.isCharacterDevice() ? 'c' : 'b', ...devNumbers(st.rdev), fileMode: st.mode & 0o777, permissions };
}

/** Resolves requested devices; a directory adds every device below it. */
export async function resolveDevices(reqs: DeviceRequest[]): Promise<HostDevice[]> {
  const out: HostDevice[] = [];
  for (const [i, d] of reqs.entries()) {
    const field = `config.devices[${i}].host_path`;
    if (!d.hostPath.startsWith('/') || !d.containerPath.startsWith('/')) throw invalidArgument(`config.devices[${i}]: host_path and container_path must be absolute`);
    if (d.permissions && !/^[rwm]+$/.test(d.permissions)) throw invalidArgument(`config.devices[${i}].permissions "${d.permissions}" must be made of r, w and m`);
    const st = await stat(d.hostPath).catch(() => undefined);
    if (!st) throw notFound(`${field} "${d.hostPath}" does not exist`);
    if (st.isDirectory()) {
      for (const e of await readdir(d.hostPath)) {
        const dev = await deviceAt(join(d.hostPath, e), join(d.containerPath, e), d.permissions).catch(() => undefined);
        if (dev) out.push(dev);
      }
      continue;
    }
    const dev = await deviceAt(d.hostPath, d.containerPath, d.permissions);
    if (!dev) throw invalidArgument(`${field} "${d.hostPath}" is not a device`);
    out.push(dev);
  }
  return out;
}

/** Every device node under /dev, for privileged containers. */
export async function hostDevices(dir = '/dev'): Promise<HostDevice[]> {
  const out: HostDevice[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (p === '/dev/pts' || p === '/dev/shm' || p === '/dev/mqueue') continue;
        await walk(p);
      } else if (e.isCharacterDevice() || e.isBlockDevice()) {
        if (p === '/dev/console' || p === '/dev/ptmx' || p.startsWith('/dev/tty')) continue;
        const dev = await deviceAt(p, p, 'rwm').catch(() => undefined);
        if (dev) out.push(dev);
      }
    }
  };
  await walk(dir);
  return out;
}

/** Resolves host paths (symlinks followed), failing on a missing one with its index. */
export async function resolveMountSources(mounts: MountRequest[]): Promise<string[]> {
  return Promise.all(mounts.map(async (m, i) => {
    // An image volume's source is mounted by the container's creation (image-volumes.ts).
    if (m.image) return '';
    if (!m.containerPath.startsWith('/')) throw invalidArgument(`config.mounts[${i}].container_path "${m.containerPath}" must be absolute`);
    if (!m.hostPath.startsWith('/')) throw invalidArgument(`config.mounts[${i}].host_path "${m.hostPath}" must be absolute`);
    try {
      return await realpath(m.hostPath);
    } catch {
      throw notFound(`config.mounts[${i}].host_path "${m.hostPath}" does not exist`);
    }
  }));
}

/** Largest Localhost seccomp profile read (runtime default profiles are about 30 KiB). */
export const MAX_SECCOMP_PROFILE = 1024 * 1024;

/**
 * Loads a Localhost seccomp profile for a container holding `capabilities`:
 * only an absolute path to a regular file of at most MAX_SECCOMP_PROFILE is
 * read (a FIFO or a device is refused without blocking). Profiles are often
 * written in the maintained format (a copy of the default, edited), whose
 * capability, architecture and kernel conditions runc would ignore: they are
 * resolved as for RuntimeDefault. A plain OCI profile has none and passes
 * unchanged.
 */
export async function loadSeccompFile(path: string, field: string, capabilities: readonly string[]): Promise<SeccompProfile> {
  const what = `${field}: seccomp profile ${echo(path)}`;
  if (!path.startsWith('/')) throw invalidArgument(`${field} ${echo(path)} must be an absolute path to a profile on this host`);
  let text: string;
  try {
    text = (await readRegularFile(path, MAX_SECCOMP_PROFILE)).toString('utf8');
  } catch (err) {
    if (err instanceof UnreadableFile && err.reason === 'missing') throw notFound(`${what} not found`);
    if (err instanceof UnreadableFile) throw invalidArgument(`${what} ${err.message}`);
    throw failedPrecondition(`${what} cannot be read: ${(err as Error).message}`);
  }
  try {
    return resolveProfile(parseMaintainedProfile(text), capabilities);
  } catch (err) {
    throw failedPrecondition(`${what} is not valid: ${echo((err as Error).message)}`);
  }
}

/** berthd's own oom_score_adj (read each time: an operator may change it; a procfs read takes microseconds). */
export function ownOomScoreAdj(): number {
  return Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim());
}
