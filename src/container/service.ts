import { mkdir, rm, readdir, readFile, stat, open } from 'node:fs/promises';
import { existsSync, mkdirSync, readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join, normalize, resolve as resolvePath } from 'node:path';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EventBus, ContainerEventType } from '../events/bus.js';
import type { RuntimeHandlers } from '../runtime/handlers.js';
import type { ImageProvider } from '../image/provider.js';
import type { SandboxService, PodContainers } from '../sandbox/service.js';
import type { Sandbox } from '../sandbox/types.js';
import { OciRuntime, type ConmonLaunch } from '../runtime/oci.js';
import { BerthError, alreadyExists, errorMessage, failedPrecondition, invalidArgument, notFound, internal, unlessNotFound } from '../util/errors.js';
import { newId, resolveId } from '../util/ids.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { readJson, replaceFile } from '../util/atomic-file.js';
import { unmountAll } from '../sandbox/host.js';
import { RunError } from '../util/run.js';
import { collectProcess } from '../util/spawn.js';
import type { Container, ContainerConfig, ContainerState, Resources } from './types.js';
import { buildSpec, resourcesSpec, validateResources } from './spec.js';
import { effectiveCapabilities, heldCapabilities } from './capabilities.js';
import { runtimeDefaultProfile, type SeccompProfile } from './seccomp.js';
import { readImageFile, resolveUser } from './user.js';
import { mountRootfs } from './rootfs.js';
import { WritableLayerDirs } from './layer-dirs.js';
import { detectCgroupVersion } from '../stats/cgroup.js';
import { hostDevices, loadSeccompFile, ownOomScoreAdj, resolveDevices, resolveMountSources } from './host-inputs.js';
import { ensurePropagation } from './propagation.js';
import { span } from '../tracing/tracing.js';

export interface ContainerFilter {
  id?: string;
  state?: ContainerState;
  sandboxId?: string;
  labels?: Record<string, string>;
}

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

/** How long runc exec gets to reap a timed-out command before it is killed too. */
const EXEC_REAP_GRACE_MS = 5000;

const SIGNALS = new Set(['SIGABRT', 'SIGALRM', 'SIGBUS', 'SIGCHLD', 'SIGCONT', 'SIGFPE', 'SIGHUP', 'SIGILL', 'SIGINT', 'SIGIO', 'SIGKILL', 'SIGPIPE', 'SIGPROF', 'SIGPWR', 'SIGQUIT', 'SIGSEGV', 'SIGSTKFLT', 'SIGSTOP', 'SIGSYS', 'SIGTERM', 'SIGTRAP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGUSR1', 'SIGUSR2', 'SIGVTALRM', 'SIGWINCH', 'SIGXCPU', 'SIGXFSZ']);

/** Normalises an image StopSignal ("TERM", "SIGTERM", "15") to a name runc accepts. */
export function stopSignalName(s: string | undefined): string {
  if (!s) return 'SIGTERM';
  if (/^\d+$/.test(s)) return s;
  const up = s.toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  return SIGNALS.has(name) || /^SIGRTM(IN|AX)/.test(name) ? name : 'SIGTERM';
}

export function containerReservedName(c: Pick<ContainerConfig, 'name' | 'attempt'>, sb: Sandbox): string {
  return `${c.name}_${sb.config.name}_${sb.config.namespace}_${sb.config.uid}_${c.attempt}`;
}

/**
 * Containers: create through conmon, start, stop, remove, status, exec, and
 * recovery of all of it after a daemon restart. Each container has its own
 * lock; exits are learnt from conmon's exit files (inotify), never by being
 * the container's parent.
 */
export class ContainerService implements PodContainers {
  private readonly containers = new Map<string, Container>();
  private readonly names = new Map<string, string>();
  private readonly locks = new KeyedLock();
  private readonly exitWaiters = new Map<string, (() => void)[]>();
  // Containers inside start(): an exit seen meanwhile publishes its 'stopped'
  // event only after 'started', so subscribers see the lifecycle in order.
  private readonly starting = new Map<string, boolean>();
  private watcher?: FSWatcher;
  private readonly runtimes = new Map<string, OciRuntime>();
  private readonly accounts = new Map<string, Promise<{ passwd?: string; group?: string }>>();
  // Host facts that do not change while berthd runs.
  private readonly cgroupV2 = detectCgroupVersion() === 'v2';
  private readonly swapSupported = existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly handlers: RuntimeHandlers,
    private readonly metrics: Metrics,
    private readonly events: EventBus,
    private readonly sandboxes: SandboxService,
    private readonly images: ImageProvider,
  ) {
    this.layerDirs = new WritableLayerDirs(join(config.daemon.root, 'containers'));
  }

  private readonly layerDirs: WritableLayerDirs;

  private get exitDir(): string {
    return join(this.config.daemon.state, 'exits');
  }
  private get socketDir(): string {
    return join(this.config.daemon.state, 's');
  }
  bundle(id: string): string {
    return join(this.config.daemon.state, 'containers', id);
  }
  private persistDir(id: string): string {
    return join(this.config.daemon.root, 'containers', id);
  }
  /** The container's writable layer (overlay upper directory). */
  upperDir(id: string): string {
    return this.layerDirs.upper(id);
  }
  private metaPath(id: string): string {
    return join(this.persistDir(id), 'container.json');
  }

  runtimeFor(sb: Sandbox): OciRuntime {
    const rt = this.runtimeNamed(sb.handler);
    if (!rt) throw failedPrecondition(`runtime handler "${sb.handler}" of pod ${sb.id} is no longer configured`);
    return rt;
  }

  private runtimeNamed(handler: string): OciRuntime | undefined {
    let rt = this.runtimes.get(handler);
    if (!rt) {
      const h = this.handlers.get(handler);
      if (!h) return undefined;
      rt = new OciRuntime(h.name, h.path, h.root || join(this.config.daemon.state, 'runtime', h.name), h.execFifoStart);
      this.runtimes.set(handler, rt);
    }
    return rt;
  }

  private runtimeOf(c: Container): OciRuntime {
    const sb = this.sandboxes.find(c.sandboxId);
    if (!sb) throw internal(`container ${c.id} belongs to unknown pod ${c.sandboxId}`);
    return this.runtimeFor(sb);
  }

  // Atomic against a daemon crash at any instant; flushed to disk behind the
  // call (see replaceFile) so no CRI call waits on an fsync.
  private save(c: Container): void {
    replaceFile(this.metaPath(c.id), JSON.stringify(c), (err) => this.log.warn({ container: c.id, err: err.message }, 'flushing the container record to disk failed'));
  }

  private publish(type: ContainerEventType, c: Container): void {
    this.events.publish({ type, containerId: c.id, podSandboxId: c.sandboxId, at: Date.now() });
  }

  resolve(id: string, field = 'container_id'): Container {
    return this.containers.get(resolveId('container', field, id, this.containers.keys()))!;
  }

  list(f: ContainerFilter = {}): Container[] {
    const out: Container[] = [];
    for (const c of this.containers.values()) {
      if (c.phase === 'preparing') continue;
      if (f.id && !c.id.startsWith(f.id)) continue;
      if (f.state && c.state !== f.state) continue;
      if (f.sandboxId && !c.sandboxId.startsWith(f.sandboxId)) continue;
      if (f.labels && Object.entries(f.labels).some(([k, v]) => c.config.labels[k] !== v)) continue;
      out.push(c);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  // ---- create ---------------------------------------------------------------

  private logPathFor(sb: Sandbox, cfg: ContainerConfig): string {
    if (!cfg.logPath) return '';
    if (!sb.config.logDirectory) throw invalidArgument('config.log_path is set but the pod has no log_directory');
    if (cfg.logPath.startsWith('/')) throw invalidArgument(`config.log_path "${cfg.logPath}" must be relative to the pod's log_directory`);
    const full = resolvePath(sb.config.logDirectory, cfg.logPath);
    const dir = normalize(sb.config.logDirectory).replace(/\/$/, '');
    if (!full.startsWith(`${dir}/`)) throw invalidArgument(`config.log_path "${cfg.logPath}" escapes the pod's log_directory`);
    return full;
  }

  async create(sandboxId: string, cfg: ContainerConfig): Promise<string> {
    if (!cfg.name) throw invalidArgument('config.metadata.name is required');
    if (!cfg.image) throw invalidArgument('config.image.image is required');
    validateResources(cfg.resources, 'config.linux.resources');
    if (cfg.resources && Object.keys(cfg.resources.unified).length && !this.cgroupV2) {
      throw failedPrecondition('config.linux.resources.unified needs cgroup v2; this host\'s controllers are on cgroup v1');
    }
    if (cfg.security.runAsGroup !== undefined && cfg.security.runAsUser === undefined && !cfg.security.runAsUsername) {
      throw invalidArgument('config.linux.security_context.run_as_group is set without run_as_user or run_as_username');
    }
    if (cfg.security.apparmor?.type === 'Localhost') {
      throw failedPrecondition('config.linux.security_context.apparmor: AppArmor is not supported on this host');
    }
    const sb = this.sandboxes.resolve(sandboxId);
    if (sb.state !== 'READY') throw failedPrecondition(`pod sandbox ${sb.id} is not ready (state ${sb.state})`);
    const logPath = this.logPathFor(sb, cfg);
    const image = await this.images.get(cfg.image);
    if (!image) throw notFound(`config.image: image "${cfg.image}" not found; pull it first`);
    const reserved = containerReservedName(cfg, sb);
    const holder = this.names.get(reserved);
    if (holder) throw alreadyExists(`container name "${reserved}" is reserved by container ${holder}`);
    const id = newId();
    this.names.set(reserved, id);
    const c: Container = {
      id, sandboxId: sb.id, reservedName: reserved, config: cfg, imageId: image.id, imageRef: image.ref, logPath,
      state: 'CREATED', phase: 'preparing', createdAt: Date.now(), startedAt: 0, finishedAt: 0, exitCode: 0,
      reason: '', message: '', pid: 0, stopSignal: stopSignalName(cfg.stopSignal || image.config.StopSignal),
      user: { uid: 0, gid: 0, additionalGids: [] }, resources: cfg.resources, sharedMounts: [],
    };
    this.containers.set(id, c);
    // The call is answered once conmon is released to run `runtime create`,
    // not when that finishes (30 ms of the runtime's own work): kubelet's
    // StartContainer then arrives while the runtime is still creating, and
    // waits for it on the container's lock. Everything the request itself can
    // get wrong is refused before the answer. What only the runtime finds
    // (an executable missing from the image, a device it cannot create) is
    // reported by StartContainer and ContainerStatus, as containerd does.
    let answer!: (err?: unknown) => void;
    const answered = new Promise<void>((resolve, reject) => (answer = (err) => (err === undefined ? resolve() : reject(err))));
    void this.locks.with(id, async () => {
      // No record is written until the runtime has created the container:
      // its bundle directory (made first, on the state tmpfs) is what a
      // restart finds of a creation cut short, and removes (see restore).
      let created: Promise<number>;
      let holdSaved: Promise<void>;
      try {
        // The hold is in effect from here; its file is written meanwhile
        // (a removal of the container's files waits its turn behind it).
        holdSaved = this.images.hold(image.id, id).persisted;
        holdSaved.catch(() => undefined); // observed below, after the runtime
        created = (await this.prepare(c, sb, image)).create();
      } catch (err) {
        answer(err);
        return;
      }
      c.phase = 'creating';
      answer();
      // Both settle before the lock goes, so nothing removes the container
      // while the runtime may still be creating it.
      const [pid, saved] = await Promise.allSettled([
        span('runtime.create', { 'container.id': c.id, 'runtime.handler': sb.handler }, () => created),
        holdSaved,
      ]);
      if (pid.status === 'fulfilled') c.pid = pid.value;
      if (pid.status === 'rejected' || saved.status === 'rejected') {
        this.creationFailed(c, pid.status === 'rejected' ? pid.reason : (saved as PromiseRejectedResult).reason);
        return;
      }
      // The record of a created container is written once its hold is on disk.
      c.phase = 'created';
      this.save(c);
    }).catch((err: unknown) => {
      // Only a record that could not be written (a full disk) gets here; the
      // container runs, and a restart treats it as a creation cut short.
      this.log.error({ container: id, err: errorMessage(err) }, 'recording a created container failed');
    });
    try {
      await answered;
    } catch (err) {
      this.countCreateFailure(err);
      this.log.warn({ container: id, err: errorMessage(err) }, 'CreateContainer failed; undoing');
      await this.destroy(c).catch((e) => this.log.error({ container: id, err: errorMessage(e) }, 'cleanup after failed CreateContainer failed'));
      if (err instanceof RunError) throw failedPrecondition(`creating container: ${err.message}`);
      throw err;
    }
    if (cfg.attempt > 0) this.metrics.containerRestarts.inc();
    this.publish('created', c);
    return id;
  }

  // A container that cannot be created never starts: it counts against the
  // start SLI (validation errors, the caller's fault, do not).
  private countCreateFailure(err: unknown): void {
    this.metrics.containerStartAttempts.inc();
    this.metrics.containerStartFailures.inc({ reason: err instanceof RunError ? 'CreateError' : err instanceof BerthError ? err.kind : 'Internal' });
  }

  /**
   * The runtime refused a container whose CreateContainer was already
   * answered: it is recorded as exited with StartError, like a start that
   * failed, so StartContainer reports why and kubelet removes it. Its files
   * go with RemoveContainer.
   */
  private creationFailed(c: Container, err: unknown): void {
    this.countCreateFailure(err);
    this.log.warn({ container: c.id, err: errorMessage(err) }, 'the runtime could not create the container');
    c.phase = 'created';
    this.recordStartError(c, `creating container: ${errorMessage(err)}`);
    this.publish('stopped', c);
  }

  /** A container that never ran: exited with StartError and exit code 128, as kubelet knows from containerd. */
  private recordStartError(c: Container, message: string): void {
    c.state = 'EXITED';
    c.exitCode = 128;
    c.reason = 'StartError';
    c.message = message;
    c.finishedAt = Date.now();
    this.save(c);
  }

  private async seccompFor(cfg: ContainerConfig, caps: string[]): Promise<SeccompProfile | undefined> {
    const p = cfg.security.seccomp;
    const field = 'config.linux.security_context.seccomp';
    // CRI: a privileged container runs without seccomp, whatever profile it names (containerd and CRI-O do the same).
    if (cfg.security.privileged) return undefined;
    if (!p) return this.config.runtime.seccomp_default ? runtimeDefaultProfile(caps) : undefined;
    if (p.type === 'Unconfined') return undefined;
    if (p.type === 'Localhost') return loadSeccompFile(p.localhostRef, `${field}.localhost_ref`);
    return runtimeDefaultProfile(caps);
  }

  private async pidNamespace(c: Container, sb: Sandbox): Promise<string | undefined> {
    const own = c.config.security.namespaces;
    const mode = own?.pid ?? sb.config.namespaces.pid;
    if (mode === 'NODE') return '';
    if (mode === 'POD') return this.sandboxes.paths(sb.id).pidns;
    if (mode === 'TARGET') {
      const target = this.containers.get(own?.targetId ?? '');
      if (!target || target.sandboxId !== sb.id) {
        throw notFound(`config.linux.security_context.namespace_options.target_id "${own?.targetId ?? ''}" is not a container of pod ${sb.id}`);
      }
      // A target whose CreateContainer was just answered: its PID comes when the runtime is done.
      if (target.phase === 'creating') await this.locks.with(target.id, async () => undefined);
      if (target.state !== 'RUNNING' && target.state !== 'CREATED') throw failedPrecondition(`target container ${target.id} is not running`);
      return `/proc/${target.pid}/ns/pid`;
    }
    return undefined;
  }

  /** Mounts the rootfs, writes the spec and launches conmon, held: `create()` on the result lets it run the runtime. */
  private async prepare(c: Container, sb: Sandbox, image: Awaited<ReturnType<ImageProvider['get']>> & object): Promise<ConmonLaunch> {
    const cfg = c.config;
    const bundle = this.bundle(c.id);
    const rootfs = join(bundle, 'rootfs');
    // conmon opens the log when it starts. (In place: on the state tmpfs,
    // microseconds, where a trip through the thread pool can take more.)
    mkdirSync(bundle, { recursive: true, mode: 0o700 });
    if (c.logPath) mkdirSync(join(c.logPath, '..'), { recursive: true });
    // The mount (a system call on the thread pool), conmon's start-up and the
    // spec (which validates the rest of the request) overlap; conmon runs
    // `runtime create` only when released.
    const mounting = this.layerDirs.make(c.id).then(() => mountRootfs(image.layerDirs, this.layerDirs.upper(c.id), this.layerDirs.work(c.id), rootfs));
    const conmon = this.runtimeFor(sb).launchConmon({
      conmon: this.config.runtime.conmon, id: c.id, name: c.reservedName, bundle, exitDir: this.exitDir,
      socketDir: this.socketDir, persistDir: this.persistDir(c.id), logPath: c.logPath || join(bundle, 'console.log'),
      stdin: cfg.stdin, stdinOnce: cfg.stdinOnce, tty: cfg.tty,
    });
    try {
      const spec = await this.buildSpecFor(c, sb, image, rootfs);
      await mounting;
      // A few kilobytes, no fsync: written in place rather than queued on the
      // thread pool.
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    } catch (err) {
      conmon.abort();
      await mounting.catch(() => undefined);
      throw err;
    }
    return conmon;
  }

  /**
   * The image's /etc/passwd and /etc/group. Layers never change under an
   * image ID, so they are read once per image (a few images at most are in
   * use on a node; the oldest entry goes beyond 32).
   */
  private imageAccounts(image: { id: string; layerDirs: readonly string[] }): Promise<{ passwd?: string; group?: string }> {
    let got = this.accounts.get(image.id);
    if (!got) {
      got = Promise.all([readImageFile(image.layerDirs, 'etc/passwd'), readImageFile(image.layerDirs, 'etc/group')]).then(([passwd, group]) => ({ passwd, group }));
      this.accounts.set(image.id, got);
      if (this.accounts.size > 32) this.accounts.delete(this.accounts.keys().next().value!);
    }
    return got;
  }

  /** The OCI runtime spec of a container: image config, security context, mounts and resources resolved. */
  private async buildSpecFor(c: Container, sb: Sandbox, image: Awaited<ReturnType<ImageProvider['get']>> & object, rootfs: string): Promise<object> {
    const cfg = c.config;
    const sec = cfg.security;
    const [{ passwd, group }, mountSources, devices] = await Promise.all([
      this.imageAccounts(image),
      resolveMountSources(cfg.mounts),
      resolveDevices(cfg.devices),
    ]);
    const oomOwn = ownOomScoreAdj();
    const user = resolveUser({
      runAsUser: sec.runAsUser, runAsUsername: sec.runAsUsername, runAsGroup: sec.runAsGroup,
      supplementalGroups: sec.supplementalGroups, imageUser: image.config.User ?? '',
    }, passwd, group);
    c.user = { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids };
    const caps = sec.privileged ? heldCapabilities() : effectiveCapabilities(sec.capabilities.add, sec.capabilities.drop);
    const seccomp = await this.seccompFor(cfg, caps);
    const handler = this.handlers.get(sb.handler);
    if (sec.privileged && !handler?.privilegedWithoutHostDevices) devices.push(...(await hostDevices()));
    let oomScoreAdj = cfg.resources?.oomScoreAdj;
    if (oomScoreAdj !== undefined && oomScoreAdj < oomOwn && this.config.runtime.restrict_oom_score_adj) {
      this.log.info({ container: c.id, requested: oomScoreAdj, applied: oomOwn }, 'oom_score_adj below the daemon\'s own clamped (runtime.restrict_oom_score_adj)');
      oomScoreAdj = oomOwn;
    }
    for (const [i, m] of cfg.mounts.entries()) {
      if (m.propagation !== 'private' && await ensurePropagation(mountSources[i]!, m.propagation)) c.sharedMounts.push(mountSources[i]!);
    }
    return buildSpec({
      id: c.id, config: cfg, sandbox: sb, sandboxPaths: this.sandboxes.paths(sb.id), image: image.config, rootfs, user,
      capabilities: caps, seccomp, devices, mountSources, pidNamespace: await this.pidNamespace(c, sb), oomScoreAdj,
      hostHostname: osHostname(), swapSupported: this.swapSupported,
    });
  }

  // ---- start / stop -----------------------------------------------------------

  async start(idOrPrefix: string): Promise<void> {
    const c = this.resolve(idOrPrefix);
    await this.locks.with(c.id, async () => {
      if (c.state === 'EXITED' && c.reason === 'StartError' && !c.startedAt) throw failedPrecondition(`starting container ${c.id}: ${c.message}`);
      if (c.state !== 'CREATED') throw failedPrecondition(`container ${c.id} is ${c.state}, not CREATED`);
      this.metrics.containerStartAttempts.inc();
      this.starting.set(c.id, false);
      try {
        await span('runtime.start', { 'container.id': c.id }, () => this.runtimeOf(c).start(c.id, c.pid));
      } catch (err) {
        const reason = err instanceof RunError ? 'RuntimeError' : 'Internal';
        this.metrics.containerStartFailures.inc({ reason });
        this.starting.delete(c.id);
        this.recordStartError(c, errorMessage(err));
        throw failedPrecondition(`starting container ${c.id}: ${errorMessage(err)}`);
      }
      c.startedAt = Date.now();
      // A container that exited at once may already be recorded as EXITED by the exit watcher.
      if (c.state === 'CREATED') c.state = 'RUNNING';
      this.save(c);
      this.metrics.containerStartSuccesses.inc();
      this.metrics.containerStartLatency.observe((c.startedAt - c.createdAt) / 1000);
      this.publish('started', c);
      if (this.starting.get(c.id)) this.publish('stopped', c);
      this.starting.delete(c.id);
    });
  }

  /**
   * Calls `fn` once the container's exit is recorded (soon, if it already
   * is); returns the function that cancels the wait.
   */
  onExit(c: Container, fn: () => void): () => void {
    if (c.state === 'EXITED') {
      queueMicrotask(fn);
      return () => undefined;
    }
    const list = this.exitWaiters.get(c.id) ?? [];
    list.push(fn);
    this.exitWaiters.set(c.id, list);
    // The exit file may have landed between the state check and the watch.
    void this.checkExit(c.id);
    return () => {
      const left = (this.exitWaiters.get(c.id) ?? []).filter((f) => f !== fn);
      if (left.length) this.exitWaiters.set(c.id, left);
      else this.exitWaiters.delete(c.id);
    };
  }

  private waitExit(c: Container, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        cancel();
        resolve(c.state === 'EXITED');
      }, ms);
      const cancel = this.onExit(c, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async stop(idOrPrefix: string, timeoutSeconds: number): Promise<void> {
    const c = this.resolve(idOrPrefix);
    await this.locks.with(c.id, () => this.stopLocked(c, timeoutSeconds));
  }

  private async stopLocked(c: Container, timeoutSeconds: number): Promise<void> {
    if (c.state === 'EXITED' || c.phase !== 'created') return;
    const rt = this.runtimeOf(c);
    if (timeoutSeconds > 0 && c.state === 'RUNNING') {
      await rt.kill(c.id, c.stopSignal);
      if (await this.waitExit(c, timeoutSeconds * 1000)) return;
      this.log.info({ container: c.id, timeout: timeoutSeconds }, 'container ignored its stop signal; killing it');
    }
    await rt.kill(c.id, 'SIGKILL', true);
    if (!(await this.waitExit(c, 10_000))) {
      throw internal(`container ${c.id} did not exit 10s after SIGKILL`);
    }
  }

  /** The containers of one pod (exact ID, unlike list()'s prefix filter), oldest first. */
  inPod(sandboxId: string): Container[] {
    return this.list({ sandboxId }).filter((c) => c.sandboxId === sandboxId);
  }

  async stopAll(sandboxId: string, timeoutSeconds: number): Promise<void> {
    await Promise.all(this.inPod(sandboxId).map((c) => this.stop(c.id, timeoutSeconds)));
  }

  async removeAll(sandboxId: string): Promise<void> {
    const all = [...this.containers.values()].filter((c) => c.sandboxId === sandboxId);
    await Promise.all(all.map((c) => this.remove(c.id)));
  }

  // ---- remove -------------------------------------------------------------------

  async remove(idOrPrefix: string): Promise<void> {
    const c = unlessNotFound(() => this.resolve(idOrPrefix));
    if (!c) return;
    await this.locks.with(c.id, async () => {
      if (!this.containers.has(c.id)) return;
      if (c.state !== 'EXITED' && c.phase === 'created') await this.stopLocked(c, 0);
      await this.destroy(c);
      this.publish('deleted', c);
    });
  }

  /** Removes every trace of a container; safe on half-created ones and to repeat. */
  private async destroy(c: Container): Promise<void> {
    const sb = this.sandboxes.find(c.sandboxId);
    if (sb) {
      const rt = this.runtimeFor(sb);
      await rt.delete(c.id);
    }
    await this.removeFiles(c.id, c.sharedMounts.filter((m) => !this.sharedElsewhere(m, c.id)));
    this.containers.delete(c.id);
    if (this.names.get(c.reservedName) === c.id) this.names.delete(c.reservedName);
  }

  /** conmon, mounts, files and image hold of a container, in the order they can go. */
  private async removeFiles(id: string, sharedMounts: string[] = []): Promise<void> {
    const bundle = this.bundle(id);
    await this.reapConmon(bundle);
    await unmountAll([join(bundle, 'rootfs'), ...sharedMounts]);
    await rm(bundle, { recursive: true, force: true });
    await rm(join(this.socketDir, id), { force: true });
    await rm(join(this.exitDir, id), { force: true });
    await rm(this.persistDir(id), { recursive: true, force: true });
    await this.images.release(id);
  }

  /**
   * A bundle without a record: berthd was killed while creating the
   * container (before the runtime finished, or before the record of it was
   * written). Its conmon may still be running `runtime create`; once conmon
   * is gone, whatever the runtime made is deleted (the handler is not
   * recorded, so every usable one is asked).
   */
  private async removeOrphan(id: string): Promise<void> {
    this.log.info({ container: id }, 'removing a container whose creation was interrupted');
    await this.reapConmon(this.bundle(id));
    for (const h of this.handlers.list()) {
      const rt = h.usable ? this.runtimeNamed(h.name) : undefined;
      await rt?.delete(id).catch((e) => this.log.warn({ container: id, handler: h.name, err: errorMessage(e) }, 'runtime delete of an interrupted container failed'));
    }
    await this.removeFiles(id);
  }

  /** Waits briefly for the container's conmon to finish (it flushes the log after the exit), then kills it. */
  private async reapConmon(bundle: string): Promise<void> {
    const pid = Number(await readFile(join(bundle, 'conmon.pid'), 'utf8').catch(() => '0'));
    if (!pid) return;
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(bundle);
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 2000;
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (alive()) process.kill(pid, 'SIGKILL');
  }

  private sharedElsewhere(path: string, except: string): boolean {
    for (const o of this.containers.values()) if (o.id !== except && o.sharedMounts.includes(path)) return true;
    return false;
  }

  // ---- exits ----------------------------------------------------------------------

  /** Reads conmon's exit file for `id`, if written, and records the exit. */
  private async checkExit(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c || c.phase !== 'created' || c.state === 'EXITED') return;
    const file = join(this.exitDir, id);
    let text: string;
    let mtime: number;
    try {
      [text, mtime] = await Promise.all([readFile(file, 'utf8'), stat(file).then((s) => s.mtimeMs)]);
    } catch {
      return;
    }
    // Another check may have recorded it while this one was reading.
    if (text.trim() === '' || (c.state as ContainerState) === 'EXITED') return;
    const code = Number.parseInt(text.trim(), 10);
    const oom = existsSync(join(this.persistDir(id), 'oom'));
    c.state = 'EXITED';
    c.exitCode = Number.isNaN(code) ? 255 : code;
    c.finishedAt = mtime;
    c.reason = oom ? 'OOMKilled' : c.exitCode === 0 ? 'Completed' : 'Error';
    this.metrics.containerExits.inc({ reason: c.reason });
    this.save(c);
    if (this.starting.has(id)) this.starting.set(id, true);
    else this.publish('stopped', c);
    for (const w of this.exitWaiters.get(id) ?? []) w();
    this.exitWaiters.delete(id);
  }

  private watchExits(): void {
    this.watcher = watch(this.exitDir, (_event, name) => {
      if (name && !name.startsWith('.')) void this.checkExit(name.toString()).catch((e) => this.log.error({ err: errorMessage(e) }, 'recording an exit failed'));
    });
  }

  // ---- restore ----------------------------------------------------------------------

  /** Loads every container after a (re)start and reconciles it with conmon and runc. */
  async restore(): Promise<void> {
    // Shared by every container's conmon; made once here, not per create.
    await Promise.all([mkdir(this.exitDir, { recursive: true }), mkdir(this.socketDir, { recursive: true })]);
    this.watchExits();
    const dir = join(this.config.daemon.root, 'containers');
    const ids = await readdir(dir).catch(() => [] as string[]);
    const loaded: Container[] = [];
    for (const id of ids) {
      // A record a power failure left empty or torn counts as absent; none at
      // all is a creation cut short. Either way the container goes below.
      const c = await readJson<Container>(join(dir, id, 'container.json')).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.log.warn({ container: id, err: err.message }, 'unreadable container record; removing the container\'s files');
        return undefined;
      });
      if (!c) continue;
      this.containers.set(id, c);
      this.names.set(c.reservedName, id);
      loaded.push(c);
    }
    await Promise.all(loaded.map(async (c) => {
      try {
        await this.reconcile(c);
      } catch (err) {
        this.log.error({ container: c.id, err: errorMessage(err) }, 'restoring container failed');
        c.state = 'UNKNOWN';
      }
    }));
    const bundles = await readdir(join(this.config.daemon.state, 'containers')).catch(() => [] as string[]);
    const orphans = new Set([...ids, ...bundles].filter((id) => !this.containers.has(id) && !id.startsWith('.')));
    await Promise.all([...orphans].map((id) => this.removeOrphan(id).catch((e) => this.log.error({ container: id, err: errorMessage(e) }, 'removing an interrupted container failed'))));
    await this.layerDirs.open();
  }

  /** IDs of every container berthd knows (image holds of any other holder are stale). */
  ids(): Set<string> {
    return new Set(this.containers.keys());
  }

  private async reconcile(c: Container): Promise<void> {
    if (c.phase !== 'created' || !this.sandboxes.find(c.sandboxId)) {
      this.log.info({ container: c.id }, 'removing a container whose creation was interrupted or whose pod is gone');
      // Its conmon may still be running `runtime create` (CreateContainer
      // answers before that ends): let it end, so the runtime delete in
      // destroy() finds whatever it made.
      await this.reapConmon(this.bundle(c.id));
      await this.destroy(c);
      return;
    }
    await this.checkExit(c.id);
    if (c.state === 'EXITED') return;
    const st = await this.runtimeOf(c).state(c.id);
    if (st?.status === 'running') {
      if (c.state !== 'RUNNING') {
        c.state = 'RUNNING';
        c.startedAt ||= Date.now();
        this.save(c);
      }
    } else if (st?.status === 'created') {
      c.state = 'CREATED';
    } else {
      // Neither running nor an exit file: conmon died with it, the code is lost.
      c.state = 'EXITED';
      c.exitCode = 255;
      c.reason = 'Error';
      c.message = 'container exited while berthd was down and its exit code was not recorded';
      c.finishedAt = Date.now();
      this.save(c);
    }
  }

  /** Waits for the runtime to finish creating containers already answered (a graceful shutdown). */
  async settle(): Promise<void> {
    const creating = [...this.containers.values()].filter((c) => c.phase === 'creating');
    await Promise.all(creating.map((c) => this.locks.with(c.id, async () => undefined)));
  }

  close(): void {
    this.watcher?.close();
    this.layerDirs.close();
  }

  // ---- update, logs, exec -------------------------------------------------------------

  async updateResources(idOrPrefix: string, r: Resources): Promise<void> {
    const c = this.resolve(idOrPrefix);
    validateResources(r, 'linux');
    await this.locks.with(c.id, async () => {
      if (c.state !== 'RUNNING' && c.state !== 'CREATED') throw failedPrecondition(`container ${c.id} is ${c.state}; only a created or running container can be updated`);
      const spec = resourcesSpec(r, this.swapSupported);
      delete spec.devices;
      try {
        await this.runtimeOf(c).update(c.id, spec);
      } catch (err) {
        throw failedPrecondition(`updating resources of container ${c.id}: ${errorMessage(err)}`);
      }
      c.resources = r;
      this.save(c);
    });
  }

  /** Asks conmon to reopen the log file (after kubelet rotated it). */
  async reopenLog(idOrPrefix: string): Promise<void> {
    const c = this.resolve(idOrPrefix);
    if (c.state !== 'RUNNING') throw failedPrecondition(`container ${c.id} is not running`);
    const fh = await open(join(this.bundle(c.id), 'ctl'), 'w');
    try {
      await fh.write('2 0 0\n');
    } finally {
      await fh.close();
    }
    // conmon reopens asynchronously; wait until the file exists again so kubelet sees it.
    const deadline = Date.now() + 5000;
    while (c.logPath && !existsSync(c.logPath) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  running(idOrPrefix: string): { c: Container; rt: OciRuntime } {
    const c = this.resolve(idOrPrefix);
    if (c.state !== 'RUNNING') throw failedPrecondition(`container ${c.id} is not running (state ${c.state})`);
    return { c, rt: this.runtimeOf(c) };
  }

  async execSync(idOrPrefix: string, cmd: string[], timeoutSeconds: number): Promise<ExecResult> {
    if (cmd.length === 0) throw invalidArgument('cmd must not be empty');
    const { c, rt } = this.running(idOrPrefix);
    const start = performance.now();
    const pidFile = join(this.bundle(c.id), `exec-${newId().slice(0, 12)}.pid`);
    const max = this.config.runtime.exec_sync_max_output;
    try {
      const r = await collectProcess(rt.path, rt.execArgs(c.id, cmd, { pidFile }), {
        timeoutMs: timeoutSeconds > 0 ? timeoutSeconds * 1000 : undefined,
        killSignal: 'SIGKILL',
        maxBuffer: max,
        overflow: 'truncate',
        // The command is runc exec's child. Kill the command alone and let
        // runc reap it and exit: killing runc too would leave the command a
        // zombie of the host's init, still listed in the container after the
        // call answered (critest's "execSync with timeout" looks for it).
        onTimeout: () => readFile(pidFile, 'utf8').then((p) => process.kill(Number(p), 'SIGKILL')).catch(() => undefined),
        killGraceMs: EXEC_REAP_GRACE_MS,
      });
      if (r.timedOut) throw new BerthError('DeadlineExceeded', `command ${JSON.stringify(cmd)} in container ${c.id} timed out after ${timeoutSeconds}s`);
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.code ?? (r.signal !== null ? 128 + r.signal : 255) };
    } finally {
      this.metrics.execSyncDuration.observe((performance.now() - start) / 1000);
      await rm(pidFile, { force: true });
    }
  }
}
