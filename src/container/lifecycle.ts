// StartContainer, StopContainer and RemoveContainer, and the removal of
// every trace of a container (also of one whose creation was cut short).
// Each runs under the container's lock, which CreateContainer holds until
// the runtime has created the container.
import { readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Container } from './types.js';
import type { ExitWatcher } from './exits.js';
import type { ContainerParts } from './parts.js';
import type { OciRuntime } from '../runtime/oci.js';
import type { Sandbox } from '../sandbox/types.js';
import { errorMessage, failedPrecondition, internal, unlessNotFound } from '../util/errors.js';
import { unmountAll } from '../util/mount.js';
import { startError } from './transitions.js';
import { startFailure } from './failures.js';
import { unmountImageVolumes } from './image-volumes.js';
import { span } from '../tracing/tracing.js';
import { requestedCdiDevices } from './cdi.js';
import { signalInit } from './stop-signal.js';

/** How long a container may take to die after SIGKILL before StopContainer fails. */
const KILL_WAIT_MS = 10_000;
/** How long conmon gets to flush the log after the container exited before it is killed. */
const CONMON_FLUSH_MS = 2000;

export interface LifecycleDeps extends ContainerParts {
  exits: ExitWatcher;
  /** Starts a container created from a checkpoint by restoring it; resolves with its PID. */
  restoreStart(c: Container): Promise<number>;
}

export class ContainerLifecycle {
  // Runtime deletes started when a container exited (its runtime state and
  // cgroup), by container, with the pod they belong to.
  private readonly released = new Map<string, { sandboxId: string; done: Promise<void> }>();

  constructor(private readonly d: LifecycleDeps) {
    d.exits.afterExit = (c) => this.releaseRuntime(c);
  }

  /**
   * Deletes an exited container's runtime state and cgroup in the
   * background, as containerd deletes a task when it exits: RemoveContainer
   * then only removes files, without a runtime process on its path. Pod
   * stop and removal, and a shutdown, wait for these.
   */
  private releaseRuntime(c: Container): void {
    if (this.released.has(c.id) || c.phase !== 'created') return;
    const sb = this.d.sandboxes.find(c.sandboxId);
    if (!sb) return;
    const done = this.d.runtimes.of(sb).delete(c.id, { background: true }).then(
      () => undefined,
      (err: unknown) => {
        // destroy() tries again.
        this.released.delete(c.id);
        this.d.log.warn({ container: c.id, err: errorMessage(err) }, 'runtime delete after the exit failed');
      },
    );
    this.released.set(c.id, { sandboxId: c.sandboxId, done });
  }

  /** Waits for the background runtime deletes of a pod's containers (every pod's without `sandboxId`). */
  async runtimeReleased(sandboxId?: string): Promise<void> {
    await Promise.all([...this.released.values()].filter((r) => sandboxId === undefined || r.sandboxId === sandboxId).map((r) => r.done));
  }

  private sandboxOf(c: Container): Sandbox {
    const sb = this.d.sandboxes.find(c.sandboxId);
    if (!sb) throw internal(`container ${c.id} belongs to unknown pod ${c.sandboxId}`);
    return sb;
  }

  runtimeOf(c: Container): OciRuntime {
    return this.d.runtimes.of(this.sandboxOf(c));
  }

  async start(idOrPrefix: string): Promise<void> {
    const { store, exits, metrics } = this.d;
    // Start latency runs from the call's arrival: a wait for the runtime to
    // finish creating the container is part of what the caller sees.
    const arrived = performance.now();
    const c = store.resolve(idOrPrefix);
    await this.d.locks.with(c.id, async () => {
      if (c.state === 'EXITED' && c.reason === 'StartError' && !c.startedAt) throw failedPrecondition(`starting container ${c.id}: ${c.message}`);
      if (c.state !== 'CREATED') throw failedPrecondition(`container ${c.id} is ${c.state}, not CREATED`);
      metrics.containerStartAttempts.inc();
      exits.beginStart(c.id);
      let restoredPid = 0;
      try {
        await span('runtime.start', { 'container.id': c.id }, async () => {
          if (c.restoreFrom && !c.pid) {
            restoredPid = await this.d.restoreStart(c);
            return;
          }
          const sb = this.sandboxOf(c);
          const began = performance.now();
          await this.d.runtimes.of(sb).start(c.id, c.pid);
          metrics.runtimeOperationDuration.observe({ handler: sb.handler, operation: 'start' }, (performance.now() - began) / 1000);
        });
      } catch (err) {
        metrics.containerStartFailures.inc(startFailure(err));
        exits.endStart(c.id);
        store.update(c, (x) => startError(x, errorMessage(err)));
        throw failedPrecondition(`starting container ${c.id}: ${errorMessage(err)}`);
      }
      const exitedMeanwhile = exits.endStart(c.id);
      if (exitedMeanwhile) this.releaseRuntime(c);
      store.update(c, (x) => {
        x.pid ||= restoredPid;
        x.startedAt = Date.now();
        // A container that exited at once is already recorded as EXITED.
        if (x.state === 'CREATED') x.state = 'RUNNING';
        return exitedMeanwhile ? ['started', 'stopped'] : 'started';
      });
      metrics.containerStartSuccesses.inc();
      metrics.containerStartLatency.observe((performance.now() - arrived) / 1000);
      metrics.containerCreateToRunning.observe((c.startedAt - c.createdAt) / 1000);
    });
  }

  async stop(idOrPrefix: string, timeoutSeconds: number): Promise<void> {
    const c = this.d.store.resolve(idOrPrefix);
    await this.d.locks.with(c.id, () => this.stopLocked(c, timeoutSeconds));
  }

  private async stopLocked(c: Container, timeoutSeconds: number): Promise<void> {
    if (c.state === 'EXITED' || c.phase !== 'created') return;
    if (c.restoreFrom && !c.pid) {
      // Created from a checkpoint and never restored: no process to stop.
      this.d.store.update(c, (x) => {
        x.state = 'EXITED';
        x.exitCode = 137;
        x.reason = 'Error';
        x.message = 'stopped before it was restored from its checkpoint';
        x.finishedAt = Date.now();
        return 'stopped';
      });
      return;
    }
    const rt = this.runtimeOf(c);
    if (timeoutSeconds > 0 && c.state === 'RUNNING') {
      if (!signalInit(c, c.stopSignal)) await rt.kill(c.id, c.stopSignal);
      if (await this.d.exits.wait(c, timeoutSeconds * 1000)) return;
      this.d.log.info({ container: c.id, timeout: timeoutSeconds }, 'container ignored its stop signal; killing it');
    }
    await rt.kill(c.id, 'SIGKILL', true);
    if (!(await this.d.exits.wait(c, KILL_WAIT_MS))) {
      throw internal(`container ${c.id} did not exit ${KILL_WAIT_MS / 1000}s after SIGKILL`);
    }
  }

  /** The seccomp notifier saw a denial in a container whose annotation asks to stop it. */
  async stopAfterDenial(id: string, syscall: string): Promise<void> {
    const c = this.d.store.get(id);
    if (!c || c.state !== 'RUNNING') return;
    this.d.store.update(c, (x) => {
      x.message = `stopped by the seccomp notifier: the profile denied ${syscall}`;
    });
    this.d.log.warn({ container: id, syscall }, 'stopping a container at its first seccomp denial, as its annotation asks');
    await this.stop(id, 0).catch((err) => this.d.log.error({ container: id, err: errorMessage(err) }, 'stopping after a seccomp denial failed'));
  }

  /** SIGKILL for every container of a pod (StopPodSandbox: kubelet gave each its grace period already). */
  async killPod(sandboxId: string): Promise<void> {
    await Promise.all(this.d.store.inPod(sandboxId).map((c) => this.d.locks.with(c.id, () => this.stopLocked(c, 0))));
    await this.runtimeReleased(sandboxId);
  }

  /** Removes every container of a pod. */
  async removePod(sandboxId: string): Promise<void> {
    await Promise.all(this.d.store.inPod(sandboxId).map((c) => this.remove(c.id)));
    await this.runtimeReleased(sandboxId);
  }

  async remove(idOrPrefix: string): Promise<void> {
    const c = unlessNotFound(() => this.d.store.resolve(idOrPrefix));
    if (!c) return;
    await this.d.locks.with(c.id, async () => {
      if (this.d.store.get(c.id) !== c) return;
      if (c.state !== 'EXITED' && c.phase === 'created') await this.stopLocked(c, 0);
      await this.destroy(c);
    });
  }

  /**
   * Removes every trace of a container, its record first (see
   * ContainerStore.delete); safe on half-created ones and to repeat.
   */
  async destroy(c: Container, publish = true): Promise<void> {
    const shared = c.sharedMounts.filter((m) => !this.sharedElsewhere(m, c.id));
    this.d.notifier.unregister(c.id);
    const sb = this.d.sandboxes.find(c.sandboxId);
    if (this.d.store.get(c.id) === c) this.d.store.delete(c, publish && c.phase !== 'preparing');
    const release = this.released.get(c.id);
    if (release) {
      // Under way since the exit. Poststop hooks (CDI) get the bundle's path
      // from the runtime: they run before the bundle goes.
      if (requestedCdiDevices(c.config.cdiDevices ?? [], c.config.annotations).length > 0) await release.done;
      void release.done.then(() => this.released.delete(c.id));
    } else if (sb) {
      await this.d.runtimes.of(sb).delete(c.id);
    }
    await this.removeFiles(c.id, shared);
    for (const v of c.imageVolumes ?? []) await this.d.images.release(v.holder);
  }

  /** conmon, mounts, files and image hold of a container, in the order they can go. */
  async removeFiles(id: string, sharedMounts: string[] = []): Promise<void> {
    const { paths } = this.d;
    await this.reapConmon(id);
    await unmountAll([paths.rootfs(id), ...sharedMounts]);
    await unmountImageVolumes(paths.bundle(id));
    // Independent removals, each a thread-pool round trip: side by side, so
    // a pool busy with stats reads delays them once, not five times over.
    await Promise.all([
      rm(paths.bundle(id), { recursive: true, force: true }),
      rm(join(paths.socketDir, id), { force: true }),
      rm(paths.exitFile(id), { force: true }),
      rm(paths.persistDir(id), { recursive: true, force: true }),
      rm(paths.checkpoint(id), { recursive: true, force: true }),
    ]);
    await this.d.images.release(id);
  }

  /**
   * What is left of a container berthd holds no record of (its creation
   * was cut before the record, or its removal after it): its conmon is
   * waited for, whatever a usable runtime made of it is deleted (the handler
   * is not known, so each is asked), then its files go.
   */
  async removeOrphan(id: string): Promise<void> {
    this.d.log.info({ container: id }, 'removing what is left of a container berthd has no record of');
    await this.reapConmon(id);
    for (const rt of this.d.runtimes.usable()) {
      await rt.delete(id).catch((e) => this.d.log.warn({ container: id, runtime: rt.name, err: errorMessage(e) }, 'runtime delete of an orphaned container failed'));
    }
    await this.removeFiles(id);
  }

  /** The container's conmon, when it still runs (found by the pid berthd wrote, checked against its command line). */
  async conmonPid(id: string): Promise<number | undefined> {
    const pid = Number(await readFile(this.d.paths.conmonPidFile(id), 'utf8').catch(() => '0'));
    return pid > 0 && conmonAlive(pid, this.d.paths.bundle(id)) ? pid : undefined;
  }

  /** Waits briefly for the container's conmon to finish (it flushes the log after the exit), then kills it. */
  async reapConmon(id: string, waitMs = CONMON_FLUSH_MS): Promise<void> {
    const pid = await this.conmonPid(id);
    if (!pid) return;
    const bundle = this.d.paths.bundle(id);
    const deadline = Date.now() + waitMs;
    while (conmonAlive(pid, bundle) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (conmonAlive(pid, bundle)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }

  private sharedElsewhere(path: string, except: string): boolean {
    return this.d.store.all().some((o) => o.id !== except && o.sharedMounts.includes(path));
  }
}

/** True while `pid` is a process whose command line names `bundle` (a recycled pid does not). */
export function conmonAlive(pid: number, bundle: string): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(bundle);
  } catch {
    return false;
  }
}
