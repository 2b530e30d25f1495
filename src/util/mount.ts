// mount(2) and umount2(2) through the project's Node-API module
// (native/berth_native.c). A util-linux `mount` per call would fork the whole
// daemon and exec a binary: milliseconds on the container start path, where
// the system call itself takes microseconds.
import { getSystemErrorMap } from 'node:util';
import { loadNativeModule } from './native.js';

/** mount(2) flags (linux/mount.h). */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  BIND: 0x1000,
  REC: 0x4000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
} as const;

/** umount2(2) flag: detach now, finish when the mount is no longer busy. */
export const MNT_DETACH = 0x2;

/** A failed mount or umount, with the errno's name in `code` like Node's own system errors. */
export class MountError extends Error {
  readonly code: string;
  constructor(
    readonly syscall: 'mount' | 'umount2',
    readonly errno: number,
    what: string,
  ) {
    const [name, text] = getSystemErrorMap().get(-errno) ?? [`errno ${errno}`, 'unknown error'];
    super(`${syscall} ${what}: ${name} (${text})`);
    this.name = 'MountError';
    this.code = name;
  }
}

export async function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): Promise<void> {
  const errno = await loadNativeModule().mount(source, target, fstype, flags, data);
  if (errno !== 0) throw new MountError('mount', errno, `${fstype ?? 'bind'} ${source ?? ''} on ${target}`);
}

export async function umount(target: string, flags = 0): Promise<void> {
  const errno = await loadNativeModule().umount(target, flags);
  if (errno !== 0) throw new MountError('umount2', errno, target);
}

/**
 * Unmounts whichever of `paths` are mounted. Idempotent: umount2 itself says
 * when a path is not a mount point (EINVAL) or not there (ENOENT), so the
 * mount table is not read.
 */
export async function unmountAll(paths: string[]): Promise<void> {
  for (const target of paths) {
    try {
      await umount(target);
    } catch (err) {
      if (!(err instanceof MountError)) throw err;
      if (err.code === 'EINVAL' || err.code === 'ENOENT') continue;
      // Busy: detach it now so remove never sticks; the kernel finishes it later.
      await umount(target, MNT_DETACH).catch(() => undefined);
    }
  }
}
