// Where a container's files live. On the state directory (a tmpfs, gone at
// reboot like the processes it describes): the bundle (config.json, the rootfs
// mount point, conmon's and runc's pid files) and, while the runtime creates
// the container, its creation record. On the root (disk): the container's
// record, conmon's own markers (exit, oom) and the log of a container created
// without a log path, which a reboot must not lose.
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import type { Container } from './types.js';

export class ContainerPaths {
  constructor(private readonly config: Config) {}

  /** Every container's bundle lives here: `<state>/containers/<id>`. */
  get bundles(): string {
    return join(this.config.daemon.state, 'containers');
  }
  /** Every container's persistent directory: `<root>/containers/<id>`. */
  get records(): string {
    return join(this.config.daemon.root, 'containers');
  }
  /** Where conmon writes each container's exit file (shared by all). */
  get exitDir(): string {
    return join(this.config.daemon.state, 'exits');
  }
  /** Short links to bundles, so attach socket paths fit in 108 bytes. */
  get socketDir(): string {
    return join(this.config.daemon.state, 's');
  }
  bundle(id: string): string {
    return join(this.bundles, id);
  }
  rootfs(id: string): string {
    return join(this.bundle(id), 'rootfs');
  }
  persistDir(id: string): string {
    return join(this.records, id);
  }
  /** The record of a created container (on disk). */
  record(id: string): string {
    return join(this.persistDir(id), 'container.json');
  }
  /**
   * The record of a container whose creation was answered while the runtime
   * still works on it (on the state tmpfs, written before the answer).
   */
  creation(id: string): string {
    return join(this.bundle(id), 'creation.json');
  }
  /**
   * Where conmon writes a container's log: the log path the request gave,
   * else beside its record on the root (disk, bounded by
   * runtime.log_size_max, kept across reboots like the record).
   */
  logFile(c: Pick<Container, 'id' | 'logPath'>): string {
    return c.logPath || join(this.persistDir(c.id), 'console.log');
  }
  /** The checkpoint archive a container is restored from, unpacked (on disk: a restart may come before StartContainer). */
  checkpoint(id: string): string {
    return join(this.config.daemon.root, 'checkpoints', id);
  }
  conmonPidFile(id: string): string {
    return join(this.bundle(id), 'conmon.pid');
  }
  exitFile(id: string): string {
    return join(this.exitDir, id);
  }
}
