// Container exits, learnt from the exit files conmon writes (watched with
// inotify): berthd is never a container's parent. A recorded exit wakes
// whoever waits for it (StopContainer, attach, exec sessions).
import { existsSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Container, ContainerState } from './types.js';
import type { ContainerStore } from './store.js';
import type { ContainerPaths } from './paths.js';
import { errorMessage } from '../util/errors.js';
import { clampTimerMs } from '../util/timers.js';

export class ExitWatcher {
  private readonly waiters = new Map<string, (() => void)[]>();
  // Containers inside StartContainer: an exit seen meanwhile is recorded at
  // once, but its `stopped` event waits for `started`, so subscribers see the
  // lifecycle in order.
  private readonly starting = new Map<string, boolean>();
  private watcher?: FSWatcher;
  /** Called once an exit is recorded (for one seen inside StartContainer, by StartContainer when it ends). */
  afterExit?: (c: Container) => void;

  constructor(
    private readonly store: ContainerStore,
    private readonly paths: ContainerPaths,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  watch(): void {
    this.watcher = watch(this.paths.exitDir, (_event, name) => {
      if (name && !name.startsWith('.')) void this.check(name.toString()).catch((e) => this.log.error({ err: errorMessage(e) }, 'recording an exit failed'));
    });
  }

  close(): void {
    this.watcher?.close();
  }

  /** Reads conmon's exit file of `id`, if written, and records the exit. */
  async check(id: string): Promise<void> {
    const c = this.store.get(id);
    if (!c || c.phase !== 'created' || c.state === 'EXITED') return;
    const file = this.paths.exitFile(id);
    let text: string;
    let mtime: number;
    try {
      // Read in place: a few bytes on the state tmpfs, where a thread-pool
      // round trip queued behind stats reads and removals was most of a
      // slow StopContainer under load.
      text = readFileSync(file, 'utf8');
      mtime = statSync(file).mtimeMs;
    } catch {
      return;
    }
    // Another check may have recorded it while this one was reading.
    if (text.trim() === '' || (c.state as ContainerState) === 'EXITED' || this.store.get(id) !== c) return;
    const code = Number.parseInt(text.trim(), 10);
    const oom = existsSync(join(this.paths.persistDir(id), 'oom'));
    const inStart = this.starting.has(id);
    this.store.update(c, (x) => {
      x.state = 'EXITED';
      x.exitCode = Number.isNaN(code) ? 255 : code;
      x.finishedAt = mtime;
      x.reason = oom ? 'OOMKilled' : x.exitCode === 0 ? 'Completed' : 'Error';
      if (inStart) this.starting.set(id, true);
      return inStart ? undefined : 'stopped';
    });
    this.metrics.containerExits.inc({ reason: c.reason });
    for (const w of this.waiters.get(id) ?? []) w();
    this.waiters.delete(id);
    if (!inStart) this.afterExit?.(c);
  }

  /** StartContainer begins: hold back the `stopped` event of an exit seen meanwhile. */
  beginStart(id: string): void {
    this.starting.set(id, false);
  }

  /** StartContainer ends; true when the container exited meanwhile (its `stopped` is the caller's to publish). */
  endStart(id: string): boolean {
    const exited = this.starting.get(id) ?? false;
    this.starting.delete(id);
    return exited;
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
    const list = this.waiters.get(c.id) ?? [];
    list.push(fn);
    this.waiters.set(c.id, list);
    // The exit file may have landed between the state check and the watch.
    void this.check(c.id);
    return () => {
      const left = (this.waiters.get(c.id) ?? []).filter((f) => f !== fn);
      if (left.length) this.waiters.set(c.id, left);
      else this.waiters.delete(c.id);
    };
  }

  /** True once the exit is recorded, false after `ms`. */
  wait(c: Container, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        cancel();
        resolve(c.state === 'EXITED');
      }, clampTimerMs(ms));
      const cancel = this.onExit(c, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
