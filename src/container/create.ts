// CreateContainer: validate, reserve the name, prepare the bundle (overlay
// rootfs, spec) beside a conmon held on its start pipe, write the creation
// record, release conmon to run `runtime create`, and answer. The answer
// does not wait for the runtime (30 ms of its own work): kubelet's
// StartContainer arrives meanwhile and waits on the container's lock. What
// the answer promises is already on the state tmpfs, so a berthd killed
// before the runtime finished finishes or redoes the creation at restart
// (see restore.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join, normalize, resolve as resolvePath } from 'node:path';
import type { Config } from '../config/config.js';
import type { RuntimeHandlers } from '../runtime/handlers.js';
import type { ImageForContainer } from '../image/provider.js';
import type { ContainerParts } from './parts.js';
import type { Sandbox } from '../sandbox/types.js';
import type { ConmonLaunch, ConmonOptions } from '../runtime/oci.js';
import type { Container, ContainerConfig } from './types.js';
import { errorMessage, failedPrecondition, invalidArgument, notFound } from '../util/errors.js';
import { createFailure } from './failures.js';
import { newId } from '../util/ids.js';
import { RunError } from '../util/run.js';
import { buildSpec, validateResources } from './spec.js';
import { effectiveCapabilities, heldCapabilities } from './capabilities.js';
import { runtimeDefaultProfile, type SeccompProfile } from './seccomp.js';
import { notifierAction, notifyingProfile } from './seccomp-notifier.js';
import { readImageFile, resolveUser } from './user.js';
import { mountRootfs } from './rootfs.js';
import { hostDevices, loadSeccompFile, ownOomScoreAdj, resolveDevices, resolveMountSources } from './host-inputs.js';
import { checkPropagationSource } from './propagation.js';
import { startError } from './transitions.js';
import { detectCgroupVersion, swapAccounted } from '../cgroup/host.js';
import { span } from '../tracing/tracing.js';
import { CdiRegistry, applyCdi, requestedCdiDevices } from './cdi.js';
import { mountImageVolume, resolveImageVolumes } from './image-volumes.js';
import { isCheckpointImage, namesArchive } from './checkpoint.js';
import type { ContainerCheckpointer } from './checkpointer.js';

const SIGNALS = new Set(['SIGABRT', 'SIGALRM', 'SIGBUS', 'SIGCHLD', 'SIGCONT', 'SIGFPE', 'SIGHUP', 'SIGILL', 'SIGINT', 'SIGIO', 'SIGKILL', 'SIGPIPE', 'SIGPROF', 'SIGPWR', 'SIGQUIT', 'SIGSEGV', 'SIGSTKFLT', 'SIGSTOP', 'SIGSYS', 'SIGTERM', 'SIGTRAP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGUSR1', 'SIGUSR2', 'SIGVTALRM', 'SIGWINCH', 'SIGXCPU', 'SIGXFSZ']);

/** Normalises an image StopSignal ("TERM", "SIGTERM", "15") to a name runc accepts. */
export function stopSignalName(s: string | undefined): string {
  if (!s) return 'SIGTERM';
  if (/^\d+$/.test(s)) return s;
  const up = s.toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  return SIGNALS.has(name) || /^SIGRTM(IN|AX)/.test(name) ? name : 'SIGTERM';
}

/** Bound of a log nobody rotates (a container created without a log path) when runtime.log_size_max sets none. */
const UNROTATED_LOG_MAX = 64 * 1024 * 1024;

/** conmon's log limit: runtime.log_size_max; a log without a path (rotated by nobody) is bounded regardless. */
export function logLimit(logPath: string, configured: number): number {
  if (configured > 0) return configured;
  return logPath ? -1 : UNROTATED_LOG_MAX;
}

export function containerReservedName(c: Pick<ContainerConfig, 'name' | 'attempt'>, sb: Sandbox): string {
  return `${c.name}_${sb.config.name}_${sb.config.namespace}_${sb.config.uid}_${c.attempt}`;
}

export interface CreatorDeps extends ContainerParts {
  config: Config;
  handlers: RuntimeHandlers;
  /** Undoes a container that will not exist: runtime state, conmon, mounts, files, hold. */
  destroy(c: Container): Promise<void>;
  checkpoints: ContainerCheckpointer;
}

export class ContainerCreator {
  private readonly accounts = new Map<string, Promise<{ passwd?: string; group?: string }>>();
  // Host facts that do not change while berthd runs.
  private readonly cgroupV2 = detectCgroupVersion() === 'v2';
  private readonly cdi: CdiRegistry;

  constructor(private readonly d: CreatorDeps) {
    this.cdi = new CdiRegistry(d.config.runtime.cdi_spec_dirs);
  }

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
    try {
      return await this.createAnswered(sandboxId, cfg);
    } catch (err) {
      this.countFailure(err);
      throw err;
    }
  }

  private async createAnswered(sandboxId: string, cfg: ContainerConfig): Promise<string> {
    const { store, locks, images } = this.d;
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
    const sb = this.d.sandboxes.resolve(sandboxId);
    const logPath = this.logPathFor(sb, cfg);
    const id = newId();
    const volumes = await resolveImageVolumes(images, id, cfg.mounts);
    // A checkpoint (an archive on this host, or an image built from one) stands for the image it was taken from.
    let restoring = namesArchive(cfg.image);
    let image = restoring ? await this.d.checkpoints.open(cfg.image, id, cfg) : await images.get(cfg.image);
    if (!image) throw notFound(`config.image: image "${cfg.image}" not found; pull it first`);
    if (!restoring && isCheckpointImage(await images.annotations(image.id))) {
      image = await this.d.checkpoints.openImage(image, id, cfg);
      restoring = true;
    }
    const c: Container = {
      id, sandboxId: sb.id, reservedName: containerReservedName(cfg, sb), config: cfg, imageId: image.id, imageRef: image.ref, logPath,
      state: 'CREATED', phase: 'preparing', createdAt: Date.now(), startedAt: 0, finishedAt: 0, exitCode: 0,
      reason: '', message: '', pid: 0, stopSignal: stopSignalName(cfg.stopSignal || image.config.StopSignal),
      user: { uid: 0, gid: 0, additionalGids: [] }, resources: cfg.resources, sharedMounts: [],
      ...(volumes.length ? { imageVolumes: volumes.map((v) => v.volume) } : {}),
      ...(restoring ? { restoreFrom: cfg.image } : {}),
    };
    // Under the pod's lock: a pod being stopped or removed is marked
    // NOTREADY under it first, so a container is either seen by the pod's
    // teardown or refused here, never made in a pod on its way out.
    await this.d.sandboxes.withLock(sb.id, async () => {
      if (sb.state !== 'READY') throw failedPrecondition(`pod sandbox ${sb.id} is not ready (state ${sb.state})`);
      store.reserve(c);
    }).catch(async (err: unknown) => {
      if (restoring) await this.d.destroy(c);
      throw err;
    });
    let answer!: (err?: unknown) => void;
    const answered = new Promise<void>((resolve, reject) => (answer = (err) => (err === undefined ? resolve() : reject(err))));
    void locks.with(id, async () => {
      let launch: ConmonLaunch | undefined;
      try {
        // The hold is in effect from here; its file is written meanwhile.
        const holds = [images.hold(image.id, id), ...volumes.map((v) => images.hold(v.image.id, v.volume.holder))];
        launch = await this.prepare(c, sb, image, volumes);
        await Promise.all(holds.map((h) => h.persisted));
        if (!launch) {
          // Restored: nothing runs until StartContainer restores it.
          store.update(c, (x) => {
            x.phase = 'created';
            return 'created';
          });
          answer();
          return;
        }
        // From here the container survives a crash: its record (on the state
        // tmpfs) is what a restart finishes the creation from.
        store.update(c, (x) => {
          x.phase = 'creating';
          return 'created';
        });
      } catch (err) {
        answer(err);
        return;
      }
      const released = performance.now();
      const created = launch!.create();
      answer();
      let pid: number;
      try {
        pid = await span('runtime.create', { 'container.id': c.id, 'runtime.handler': sb.handler }, () => created);
      } catch (err) {
        this.creationFailed(c, err);
        return;
      }
      this.d.metrics.runtimeOperationDuration.observe({ handler: sb.handler, operation: 'create' }, (performance.now() - released) / 1000);
      store.update(c, (x) => {
        x.pid = pid;
        x.phase = 'created';
      });
    }).catch((err: unknown) => {
      // Only a record that could not be written (a full disk) gets here; the
      // creation record on the state tmpfs stands, and a restart finishes it.
      this.d.log.error({ container: id, err: errorMessage(err) }, 'recording a created container failed');
    });
    try {
      await answered;
    } catch (err) {
      this.d.log.warn({ container: id, err: errorMessage(err) }, 'CreateContainer failed; undoing');
      await this.d.destroy(c).catch((e) => this.d.log.error({ container: id, err: errorMessage(e) }, 'cleanup after failed CreateContainer failed'));
      if (err instanceof RunError) throw failedPrecondition(`creating container: ${err.message}`);
      throw err;
    }
    if (cfg.attempt > 0) this.d.metrics.containerRestarts.inc();
    return id;
  }

  // A container that cannot be created never starts: a failed attempt, with
  // whose fault it is (the runtime's start SLI leaves the caller's out).
  private countFailure(err: unknown): void {
    this.d.metrics.containerStartAttempts.inc();
    this.d.metrics.containerStartFailures.inc(createFailure(err));
  }

  /**
   * The runtime refused a container whose CreateContainer was already
   * answered: it is recorded as exited with StartError, like a start that
   * failed, so StartContainer reports why and kubelet removes it. Its files
   * go with RemoveContainer.
   */
  creationFailed(c: Container, err: unknown): void {
    this.countFailure(err);
    this.d.log.warn({ container: c.id, err: errorMessage(err) }, 'the runtime could not create the container');
    this.d.store.update(c, (x) => {
      x.phase = 'created';
      startError(x, `creating container: ${errorMessage(err)}`);
      return 'stopped';
    });
  }

  /** How conmon supervises a container: the same at creation and when a restart makes it again. */
  conmonOptions(c: Container): ConmonOptions {
    const { paths } = this.d;
    return {
      conmon: this.d.config.runtime.conmon, id: c.id, name: c.reservedName, bundle: paths.bundle(c.id), exitDir: paths.exitDir,
      socketDir: paths.socketDir, persistDir: paths.persistDir(c.id), logPath: paths.logFile(c),
      stdin: c.config.stdin, stdinOnce: c.config.stdinOnce, tty: c.config.tty, logSizeMax: logLimit(c.logPath, this.d.config.runtime.log_size_max),
    };
  }

  /** Launches the container's conmon, held, and moves it out of berthd's cgroup while it cannot run anything yet (see cgroup/monitors.ts). */
  async launchConmon(c: Container, sb: Sandbox): Promise<ConmonLaunch> {
    const launch = await this.d.runtimes.of(sb).launchConmon(this.conmonOptions(c));
    try {
      this.d.sandboxes.placeMonitor(launch.pid, sb);
    } catch (err) {
      launch.abort();
      throw err;
    }
    return launch;
  }

  private async seccompFor(cfg: ContainerConfig, caps: string[]): Promise<SeccompProfile | undefined> {
    const p = cfg.security.seccomp;
    const field = 'config.linux.security_context.seccomp';
    // CRI: a privileged container runs without seccomp, whatever profile it names (containerd and CRI-O do the same).
    if (cfg.security.privileged) return undefined;
    if (!p) return this.d.config.runtime.seccomp_default ? runtimeDefaultProfile(caps) : undefined;
    if (p.type === 'Unconfined') return undefined;
    if (p.type === 'Localhost') return loadSeccompFile(p.localhostRef, `${field}.localhost_ref`, caps);
    return runtimeDefaultProfile(caps);
  }

  private async pidNamespace(c: Container, sb: Sandbox): Promise<string | undefined> {
    const own = c.config.security.namespaces;
    const mode = own?.pid ?? sb.config.namespaces.pid;
    if (mode === 'NODE') return '';
    if (mode === 'POD') return this.d.sandboxes.paths(sb.id).pidns;
    if (mode === 'TARGET') {
      const target = this.d.store.get(own?.targetId ?? '');
      if (!target || target.sandboxId !== sb.id || target.phase === 'preparing') {
        throw notFound(`config.linux.security_context.namespace_options.target_id "${own?.targetId ?? ''}" is not a container of pod ${sb.id}`);
      }
      // A target whose CreateContainer was just answered: its PID comes when the runtime is done.
      if (target.phase === 'creating') await this.d.locks.with(target.id, async () => undefined);
      if (target.state !== 'RUNNING' && target.state !== 'CREATED') throw failedPrecondition(`target container ${target.id} is not running`);
      return `/proc/${target.pid}/ns/pid`;
    }
    return undefined;
  }

  /** Mounts the rootfs, writes the spec and launches conmon, held: `create()` on the result lets it run the runtime. */
  private async prepare(c: Container, sb: Sandbox, image: ImageForContainer, volumes: { volume: { mount: number }; image: ImageForContainer }[]): Promise<ConmonLaunch | undefined> {
    const { paths, layerDirs } = this.d;
    const bundle = paths.bundle(c.id);
    const rootfs = paths.rootfs(c.id);
    // conmon opens the log when it starts, before it waits to be released.
    // (In place: on the state tmpfs, microseconds, where a trip through the
    // thread pool can take more.)
    mkdirSync(bundle, { recursive: true, mode: 0o700 });
    if (c.logPath) mkdirSync(join(c.logPath, '..'), { recursive: true });
    const made = layerDirs.make(c.id);
    // Without a log path the log is in the container's directory on the root, which this makes.
    if (!c.logPath) await made;
    // The mount (a system call on the thread pool), conmon's start-up and the
    // spec (which validates the rest of the request) overlap; conmon runs
    // `runtime create` only when released.
    const mounting = made.then(() => mountRootfs(image.layerDirs, layerDirs.upper(c.id), layerDirs.work(c.id), rootfs));
    const volumeSources = Promise.all(volumes.map(({ volume: { mount: i }, image: vi }) =>
      mountImageVolume(bundle, i, vi.layerDirs, c.config.mounts[i]!.imageSubPath ?? '', `config.mounts[${i}]`).then((source) => ({ i, source }))));
    // A container restored from a checkpoint gets its conmon at StartContainer (`conmon --restore`).
    const launching = c.restoreFrom ? Promise.resolve(undefined) : this.launchConmon(c, sb);
    // Its failure is taken below; until then it must not count as unhandled.
    launching.catch(() => undefined);
    try {
      const spec = await this.buildSpecFor(c, sb, image, rootfs, volumeSources);
      await mounting;
      if (c.restoreFrom) await this.d.checkpoints.prepare(c, spec, rootfs);
      // A few kilobytes, no fsync: written in place rather than queued on the
      // thread pool.
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
      return await launching;
    } catch (err) {
      // A conmon that started is killed while it still waits to be released.
      await launching.then((l) => l?.abort(), () => undefined);
      await Promise.all([mounting.catch(() => undefined), volumeSources.catch(() => undefined)]);
      throw err;
    }
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
  private async buildSpecFor(c: Container, sb: Sandbox, image: ImageForContainer, rootfs: string, volumeSources: Promise<{ i: number; source: string }[]>): Promise<Record<string, unknown>> {
    const cfg = c.config;
    const sec = cfg.security;
    const [{ passwd, group }, mountSources, devices, cdi, volumes] = await Promise.all([
      this.imageAccounts(image),
      resolveMountSources(cfg.mounts),
      resolveDevices(cfg.devices),
      this.cdi.resolve(requestedCdiDevices(cfg.cdiDevices ?? [], cfg.annotations)),
      volumeSources,
    ]);
    for (const { i, source } of volumes) mountSources[i] = source;
    const oomOwn = ownOomScoreAdj();
    const user = resolveUser({
      runAsUser: sec.runAsUser, runAsUsername: sec.runAsUsername, runAsGroup: sec.runAsGroup,
      supplementalGroups: sec.supplementalGroups, imageUser: image.config.User ?? '',
    }, passwd, group);
    c.user = { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids };
    const caps = sec.privileged ? heldCapabilities() : effectiveCapabilities(sec.capabilities.add, sec.capabilities.drop);
    let seccomp = await this.seccompFor(cfg, caps);
    const notify = seccomp ? notifierAction(cfg.annotations, sb.config.annotations) : undefined;
    if (seccomp && notify) {
      const n = notifyingProfile(seccomp, this.d.notifier.socketPath, c.id, notify);
      seccomp = n.profile;
      c.seccompNotifier = n.plan;
      this.d.notifier.register({ id: c.id, namespace: sb.config.namespace, pod: sb.config.name, name: cfg.name, plan: n.plan });
    }
    const handler = this.d.handlers.get(sb.handler);
    if (sec.privileged && !handler?.privilegedWithoutHostDevices) devices.push(...(await hostDevices()));
    let oomScoreAdj = cfg.resources?.oomScoreAdj;
    if (oomScoreAdj !== undefined && oomScoreAdj < oomOwn && this.d.config.runtime.restrict_oom_score_adj) {
      this.d.log.info({ container: c.id, requested: oomScoreAdj, applied: oomOwn }, 'oom_score_adj below the daemon\'s own clamped (runtime.restrict_oom_score_adj)');
      oomScoreAdj = oomOwn;
    }
    // A propagating mount needs a host source that propagates already
    // (containerd's rule): berthd never changes the host's propagation.
    for (const [i, m] of cfg.mounts.entries()) {
      if (m.propagation !== 'private') await checkPropagationSource(mountSources[i]!, m.propagation, `config.mounts[${i}].host_path`);
    }
    const spec = buildSpec({
      id: c.id, config: cfg, sandbox: sb, sandboxPaths: this.d.sandboxes.paths(sb.id), image: image.config, rootfs, user,
      capabilities: caps, seccomp, devices, mountSources, pidNamespace: await this.pidNamespace(c, sb), oomScoreAdj,
      hostHostname: osHostname(), swapSupported: swapAccounted(),
    });
    applyCdi(spec, cdi);
    return spec;
  }
}
