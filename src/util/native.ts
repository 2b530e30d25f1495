// The project's Node-API module (native/berth_native.c, built by
// scripts/build-native.sh): the system calls berthd needs on hot paths that
// Node has no API for.
import { createRequire } from 'node:module';

export interface NativeModule {
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): Promise<number>;
  umount(target: string, flags: number): Promise<number>;
  /** A close-on-exec pipe: [read end, write end]. */
  pipe(): [number, number];
  /** Listens on a unix socket for seccomp notification fds (SCM_RIGHTS) and the container state the runtime sends with each. */
  seccompListen(path: string, onConnection: (fd: number, state: string) => void): number;
  /** Answers every notification on `fd` with the errno onNotify returns; takes the fd. */
  seccompWatch(fd: number, onNotify: (pid: number, arch: number, nr: number, name: string) => number, onClose: () => void): void;
  seccompClose(fd: number): void;
  /** The names of the native architecture's system calls, from libseccomp. */
  syscallNames(): string[];
  spawn(
    file: string, argv: string[], env: string[], cwd: string | null, fds: number[], newSession: boolean, keepAlive: boolean,
    onExit: (code: number | null, signal: number | null) => void,
  ): number;
  /**
   * Reads each file whole (up to 256 KiB) in one thread-pool job, by path or
   * from offset 0 of a descriptor kept open (not to be closed before the
   * promise settles): its latin1 text, or null where it could not be read.
   */
  readFiles(items: (string | number)[]): Promise<(string | null)[]>;
  /**
   * Allocated bytes and inodes under each root, the root included, as du
   * counts them (a file with several links once), walked in one thread-pool
   * job: [bytes, inodes], or null where the root could not be read.
   */
  usage(roots: string[]): Promise<([number, number] | null)[]>;
  /**
   * New network, IPC and UTS namespaces (those given a file), each
   * bind-mounted onto its existing file, with loopback up in the network
   * one; made by a short-lived thread, so no daemon thread enters them.
   * Rejects saying what failed; namespaces pinned before it stay mounted.
   */
  pinNamespaces(net: string | null, ipc: string | null, uts: string | null): Promise<void>;
  /**
   * For each pinned network namespace file, a close-on-exec descriptor of
   * that namespace's net/dev (read from offset 0; it keeps the namespace
   * alive until closed), or null where it could not be opened; opened by a
   * short-lived thread that enters each namespace in turn.
   */
  openNetDevs(netns: string[]): Promise<(number | null)[]>;
  /**
   * A close-on-exec memfd holding a copy of the file at `path`, executable
   * and sealed against every change (write, grow, shrink, more seals).
   */
  sealedCopy(path: string): number;
  /** spawn, the wait for the child's exec on a thread-pool thread instead of the event loop; fds may be closed once it returns. */
  spawnAsync(
    file: string, argv: string[], env: string[], cwd: string | null, fds: number[], newSession: boolean, keepAlive: boolean,
    onExit: (code: number | null, signal: number | null) => void,
  ): Promise<number>;
}

const MODULE_PATH = '../../native/berth_native.node';
let native: NativeModule | undefined;

/**
 * Loads the module; throws with the fix when it was not built. The daemon
 * calls this at start so a missing build fails there, not in the middle of
 * the first RunPodSandbox.
 */
export function loadNativeModule(): NativeModule {
  if (!native) {
    try {
      native = createRequire(import.meta.url)(MODULE_PATH) as NativeModule;
    } catch (err) {
      throw new Error(`berthd's native module is missing or unloadable (build it with scripts/build-native.sh): ${(err as Error).message}`, { cause: err });
    }
  }
  return native;
}
