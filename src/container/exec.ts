// What runs against a container already running: ExecSync, the log reopen
// kubelet asks for after rotating it, and resource updates.
import { open, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Container, Resources } from './types.js';
import type { ContainerStore } from './store.js';
import type { ContainerPaths } from './paths.js';
import type { KeyedLock } from '../util/keyed-lock.js';
import type { OciRuntime } from '../runtime/oci.js';
import { BerthError, errorMessage, failedPrecondition, invalidArgument } from '../util/errors.js';
import { newId } from '../util/ids.js';
import { collectProcess } from '../util/spawn.js';
import { clampTimerMs } from '../util/timers.js';
import { resourcesSpec, validateResources } from './spec.js';
import { swapAccounted } from '../cgroup/host.js';

/** How long runc exec gets to reap a timed-out command before it is killed too. */
const EXEC_REAP_GRACE_MS = 5000;
/** How long a log reopen may take to show the file again. */
const REOPEN_WAIT_MS = 5000;

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

export interface ExecDeps {
  config: Config;
  metrics: Metrics;
  store: ContainerStore;
  paths: ContainerPaths;
  locks: KeyedLock;
  runtimeOf(c: Container): OciRuntime;
}

export class ContainerExec {
  constructor(private readonly d: ExecDeps) {}

  /** A running container and its runtime; FAILED_PRECONDITION when it is not running. */
  running(idOrPrefix: string): { c: Container; rt: OciRuntime } {
    const c = this.d.store.resolve(idOrPrefix);
    if (c.state !== 'RUNNING') throw failedPrecondition(`container ${c.id} is not running (state ${c.state})`);
    return { c, rt: this.d.runtimeOf(c) };
  }

  async execSync(idOrPrefix: string, cmd: string[], timeoutSeconds: number): Promise<ExecResult> {
    if (cmd.length === 0) throw invalidArgument('cmd must not be empty');
    const { c, rt } = this.running(idOrPrefix);
    const start = performance.now();
    const pidFile = join(this.d.paths.bundle(c.id), `exec-${newId().slice(0, 12)}.pid`);
    try {
      const r = await collectProcess(rt.exe(), rt.execArgs(c.id, cmd, { pidFile }), {
        timeoutMs: timeoutSeconds > 0 ? clampTimerMs(timeoutSeconds * 1000) : undefined,
        killSignal: 'SIGKILL',
        argv0: rt.path,
        maxBuffer: this.d.config.runtime.exec_sync_max_output,
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
      this.d.metrics.execSyncDuration.observe((performance.now() - start) / 1000);
      await rm(pidFile, { force: true });
    }
  }

  /** Asks conmon to reopen the log file (after kubelet rotated it). */
  async reopenLog(idOrPrefix: string): Promise<void> {
    const c = this.d.store.resolve(idOrPrefix);
    if (c.state !== 'RUNNING') throw failedPrecondition(`container ${c.id} is not running`);
    const fh = await open(join(this.d.paths.bundle(c.id), 'ctl'), 'w');
    try {
      await fh.write('2 0 0\n');
    } finally {
      await fh.close();
    }
    // conmon reopens asynchronously; wait until the file exists again so kubelet sees it.
    const deadline = Date.now() + REOPEN_WAIT_MS;
    while (c.logPath && !existsSync(c.logPath) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  async updateResources(idOrPrefix: string, r: Resources): Promise<void> {
    const c = this.d.store.resolve(idOrPrefix);
    validateResources(r, 'linux');
    await this.d.locks.with(c.id, async () => {
      if (c.state !== 'RUNNING' && c.state !== 'CREATED') throw failedPrecondition(`container ${c.id} is ${c.state}; only a created or running container can be updated`);
      const spec = resourcesSpec(r, swapAccounted());
      delete spec.devices;
      try {
        await this.d.runtimeOf(c).update(c.id, spec);
      } catch (err) {
        throw failedPrecondition(`updating resources of container ${c.id}: ${errorMessage(err)}`);
      }
      this.d.store.update(c, (x) => {
        x.resources = r;
      });
    });
  }
}
