// The container service: one face for the CRI handlers, the streaming
// server and the stats readers over the parts that do the work, each in its
// own module: the store (state, records, events), creation, the lifecycle
// (start, stop, remove), exits, restart reconciliation, and exec, logs and
// resource updates.
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EventBus } from '../events/bus.js';
import type { RuntimeHandlers } from '../runtime/handlers.js';
import type { ImageProvider } from '../image/provider.js';
import type { SandboxService } from '../sandbox/service.js';
import type { OciRuntime } from '../runtime/oci.js';
import type { Container, ContainerConfig, Resources } from './types.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { ContainerStore, type ContainerFilter } from './store.js';
import { ContainerPaths } from './paths.js';
import { ContainerRuntimes } from './runtimes.js';
import { ExitWatcher } from './exits.js';
import { ContainerCreator } from './create.js';
import { ContainerLifecycle } from './lifecycle.js';
import { ContainerExec, type ExecResult } from './exec.js';
import { ContainerRestore } from './restore.js';
import { WritableLayerDirs } from './layer-dirs.js';
import { SeccompNotifier } from './seccomp-notifier.js';
import { join } from 'node:path';
import { ContainerCheckpointer } from './checkpointer.js';

export type { ContainerFilter } from './store.js';
export type { ExecResult } from './exec.js';

export class ContainerService {
  private readonly store: ContainerStore;
  private readonly paths: ContainerPaths;
  private readonly locks = new KeyedLock();
  private readonly exits: ExitWatcher;
  private readonly creator: ContainerCreator;
  private readonly lifecycle: ContainerLifecycle;
  private readonly ops: ContainerExec;
  private readonly restorer: ContainerRestore;
  private readonly layerDirs: WritableLayerDirs;
  private readonly runtimes: ContainerRuntimes;
  private readonly checkpointer: ContainerCheckpointer;

  constructor(
    config: Config,
    log: Logger,
    handlers: RuntimeHandlers,
    metrics: Metrics,
    events: EventBus,
    sandboxes: SandboxService,
    images: ImageProvider,
  ) {
    this.paths = new ContainerPaths(config);
    this.store = new ContainerStore(this.paths, events, log);
    this.layerDirs = new WritableLayerDirs(this.paths.records);
    this.runtimes = new ContainerRuntimes(config, handlers, log);
    this.exits = new ExitWatcher(this.store, this.paths, metrics, log);
    const notifier = new SeccompNotifier(join(config.daemon.state, 'seccomp.sock'), metrics, log, (id, syscall) => void this.lifecycle.stopAfterDenial(id, syscall));
    const common = { log, metrics, store: this.store, paths: this.paths, runtimes: this.runtimes, sandboxes, images, locks: this.locks, layerDirs: this.layerDirs, notifier };
    this.checkpointer = new ContainerCheckpointer({
      ...common, config, runtimeOf: (c) => this.lifecycle.runtimeOf(c), conmonOptions: (c) => this.creator.conmonOptions(c),
    });
    this.lifecycle = new ContainerLifecycle({ ...common, exits: this.exits, restoreStart: (c) => this.checkpointer.start(c) });
    this.creator = new ContainerCreator({ ...common, config, handlers, destroy: (c) => this.lifecycle.destroy(c), checkpoints: this.checkpointer });
    this.ops = new ContainerExec({ config, metrics, store: this.store, paths: this.paths, locks: this.locks, runtimeOf: (c) => this.lifecycle.runtimeOf(c) });
    this.restorer = new ContainerRestore({ ...common, exits: this.exits, lifecycle: this.lifecycle, creator: this.creator });
  }

  create(sandboxId: string, cfg: ContainerConfig): Promise<string> {
    return this.creator.create(sandboxId, cfg);
  }
  start(idOrPrefix: string): Promise<void> {
    return this.lifecycle.start(idOrPrefix);
  }
  stop(idOrPrefix: string, timeoutSeconds: number): Promise<void> {
    return this.lifecycle.stop(idOrPrefix, timeoutSeconds);
  }
  remove(idOrPrefix: string): Promise<void> {
    return this.lifecycle.remove(idOrPrefix);
  }
  /** SIGKILL for whatever still runs in a pod. */
  killPod(sandboxId: string): Promise<void> {
    return this.lifecycle.killPod(sandboxId);
  }
  removePod(sandboxId: string): Promise<void> {
    return this.lifecycle.removePod(sandboxId);
  }

  /** The container of exactly this ID, if berthd knows it. */
  find(id: string): Container | undefined {
    return this.store.get(id);
  }

  resolve(idOrPrefix: string, field?: string): Container {
    return this.store.resolve(idOrPrefix, field);
  }
  list(f?: ContainerFilter): Container[] {
    return this.store.list(f);
  }
  /** The containers of one pod (exact ID) CreateContainer answered for, oldest first. */
  inPod(sandboxId: string): Container[] {
    return this.store.inPod(sandboxId).filter((c) => c.phase !== 'preparing');
  }
  /** IDs of every container berthd knows. */
  ids(): Set<string> {
    return this.store.ids();
  }
  /** The image holders of every container berthd knows: itself and its image volumes (holds of any other holder are stale). */
  imageHolders(): Set<string> {
    const out = this.store.ids();
    for (const c of this.store.all()) for (const v of c.imageVolumes ?? []) out.add(v.holder);
    return out;
  }

  running(idOrPrefix: string): { c: Container; rt: OciRuntime } {
    return this.ops.running(idOrPrefix);
  }
  execSync(idOrPrefix: string, cmd: string[], timeoutSeconds: number): Promise<ExecResult> {
    return this.ops.execSync(idOrPrefix, cmd, timeoutSeconds);
  }
  reopenLog(idOrPrefix: string): Promise<void> {
    return this.ops.reopenLog(idOrPrefix);
  }
  updateResources(idOrPrefix: string, r: Resources): Promise<void> {
    return this.ops.updateResources(idOrPrefix, r);
  }

  onExit(c: Container, fn: () => void): () => void {
    return this.exits.onExit(c, fn);
  }
  bundle(id: string): string {
    return this.paths.bundle(id);
  }
  /** The file conmon writes the container's log to. */
  logFile(c: Container): string {
    return this.paths.logFile(c);
  }
  /** The container's writable layer (overlay upper directory). */
  upperDir(id: string): string {
    return this.layerDirs.upper(id);
  }

  /** CheckpointContainer: a CRIU dump of a running container, written as an archive at `location`. */
  checkpoint(idOrPrefix: string, location: string, timeoutSeconds: number): Promise<void> {
    return this.checkpointer.checkpoint(idOrPrefix, location, timeoutSeconds);
  }

  /** Loads every container after a (re)start and reconciles it with the host. */
  async restore(): Promise<void> {
    await this.restorer.run();
    await this.checkpointer.removeStale(this.store.ids());
  }

  /** Waits for the runtime to finish creating containers already answered, and deleting exited ones (a graceful shutdown). */
  async settle(): Promise<void> {
    const creating = this.store.all().filter((c) => c.phase === 'creating');
    await Promise.all(creating.map((c) => this.locks.with(c.id, async () => undefined)));
    await this.lifecycle.runtimeReleased();
  }

  close(): void {
    this.exits.close();
    this.layerDirs.close();
    this.runtimes.close();
  }
}
