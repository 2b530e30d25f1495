// A restarted berthd matches its container records against the host's
// truth: runc's state, conmon's processes, pid and exit files, the rootfs
// mounts. What a record promises and the host lacks is recorded (an exit, a
// creation made again), never silently dropped; what matches no record is
// removed: bundles, runtime state, conmon processes.
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Sandbox } from '../sandbox/types.js';
import type { OciRuntime } from '../runtime/oci.js';
import type { Container } from './types.js';
import type { ExitWatcher } from './exits.js';
import type { ContainerLifecycle } from './lifecycle.js';
import type { ContainerCreator } from './create.js';
import type { ContainerParts } from './parts.js';
import { errorMessage } from '../util/errors.js';
import { RecordError, listDir } from '../store/records.js';
import { mountRootfs } from './rootfs.js';
import { mountImageVolume } from './image-volumes.js';

/** How long a conmon still running `runtime create` at restart gets to finish. */
const CREATING_WAIT_MS = 10_000;

export interface RestoreDeps extends ContainerParts {
  exits: ExitWatcher;
  lifecycle: ContainerLifecycle;
  creator: ContainerCreator;
}

export class ContainerRestore {
  constructor(private readonly d: RestoreDeps) {}

  async run(): Promise<void> {
    const { paths, store, log } = this.d;
    // Shared by every container's conmon; made once here, not per create.
    await Promise.all([mkdir(paths.exitDir, { recursive: true }), mkdir(paths.socketDir, { recursive: true })]);
    this.d.exits.watch();
    const ids = new Set([...await listDir(paths.records), ...await listDir(paths.bundles)].filter((id) => !id.startsWith('.')));
    const loaded: Container[] = [];
    for (const id of ids) {
      let c: Container | undefined;
      try {
        c = await store.load(id);
      } catch (err) {
        // A record a power failure left empty or torn counts as absent.
        if (!(err instanceof RecordError)) throw err;
        log.warn({ container: id, err: err.message }, 'unreadable container record; removing the container\'s files');
      }
      if (!c) continue;
      store.adopt(c);
      loaded.push(c);
      const sb = this.d.sandboxes.find(c.sandboxId);
      // Processes exec'd from now on are counted; the fds of those before went with the last berthd.
      if (c.seccompNotifier && sb) this.d.notifier.register({ id: c.id, namespace: sb.config.namespace, pod: sb.config.name, name: c.config.name, plan: c.seccompNotifier });
    }
    await Promise.all(loaded.map(async (c) => {
      try {
        await this.reconcile(c);
      } catch (err) {
        log.error({ container: c.id, err: errorMessage(err) }, 'restoring container failed');
        store.update(c, (x) => {
          x.state = 'UNKNOWN';
        });
      }
    }));
    const orphans = [...ids].filter((id) => !store.get(id));
    await Promise.all(orphans.map((id) => this.d.lifecycle.removeOrphan(id).catch((e) => log.error({ container: id, err: errorMessage(e) }, 'removing an orphaned container failed'))));
    await this.removeUnknownRuntimeState();
    await this.killUnknownConmons();
    await this.d.layerDirs.open();
  }

  private async reconcile(c: Container): Promise<void> {
    const sb = this.d.sandboxes.find(c.sandboxId);
    if (!sb) {
      this.d.log.info({ container: c.id, sandbox: c.sandboxId }, 'removing a container whose pod is gone');
      await this.d.lifecycle.destroy(c, false);
      return;
    }
    const rt = this.d.runtimes.of(sb);
    if (c.phase !== 'created') {
      await this.finishCreation(c, sb, rt);
      return;
    }
    await this.d.exits.check(c.id);
    if (c.state === 'EXITED') return;
    const [st, conmon] = await Promise.all([rt.state(c.id), this.d.lifecycle.conmonPid(c.id)]);
    // Created from a checkpoint: nothing runs before StartContainer restores it.
    if (c.restoreFrom && c.state === 'CREATED' && !st && !conmon) return;
    if (st?.status === 'created' && c.state === 'CREATED') {
      if (!conmon) await this.remake(c, sb, rt, 'its conmon was gone');
      return;
    }
    if (st?.status === 'running' && conmon) {
      // A StartContainer cut short after the runtime released the container.
      if (c.state !== 'RUNNING') {
        const startedAt = await this.startTime(rt, c.id);
        this.d.store.update(c, (x) => {
          x.state = 'RUNNING';
          x.pid ||= st.pid;
          x.startedAt ||= startedAt;
          return 'started';
        });
      }
      return;
    }
    if (st?.status === 'running') {
      // Nothing would ever record its exit: stop it, and say so.
      await rt.kill(c.id, 'SIGKILL', true).catch(() => undefined);
      this.lost(c, 'the container\'s conmon was gone after a restart; it was stopped and its exit code is not known');
      return;
    }
    // Neither running nor an exit file: conmon died with it, the code is lost.
    this.lost(c, 'container exited while berthd was down and its exit code was not recorded');
  }

  private lost(c: Container, message: string): void {
    this.d.store.update(c, (x) => {
      x.state = 'EXITED';
      x.exitCode = 255;
      x.reason = 'Error';
      x.message = message;
      x.finishedAt = Date.now();
      return 'stopped';
    });
  }

  /**
   * A container CreateContainer answered for while the runtime was still at
   * work when berthd died. Its conmon normally survives (it keeps its own
   * reader of the report pipe) and the runtime finished: the creation is
   * taken as it is. Otherwise it is made again from the saved bundle.
   */
  private async finishCreation(c: Container, sb: Sandbox, rt: OciRuntime): Promise<void> {
    let conmon = await this.d.lifecycle.conmonPid(c.id);
    let st = await rt.state(c.id);
    const deadline = Date.now() + CREATING_WAIT_MS;
    while (conmon && (!st || st.status === 'creating') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      [st, conmon] = await Promise.all([rt.state(c.id), this.d.lifecycle.conmonPid(c.id)]);
    }
    if (st && st.status === 'created' && conmon) {
      this.d.log.info({ container: c.id, sandbox: sb.id }, 'finishing a creation a restart interrupted: the runtime had created the container');
      this.d.store.update(c, (x) => {
        x.pid = st.pid;
        x.phase = 'created';
      });
      return;
    }
    await this.remake(c, sb, rt, 'its creation was cut short by a restart');
  }

  /** Makes the container again from its bundle (config.json and rootfs are there): conmon, then `runtime create`. */
  private async remake(c: Container, sb: Sandbox, rt: OciRuntime, why: string): Promise<void> {
    this.d.log.info({ container: c.id, why }, 'making the container again from its bundle');
    await this.d.lifecycle.reapConmon(c.id, 0);
    await rt.delete(c.id);
    await rm(this.d.paths.exitFile(c.id), { force: true });
    try {
      await this.ensureRootfs(c);
      const pid = await (await this.d.creator.launchConmon(c, sb)).create();
      this.d.store.update(c, (x) => {
        x.pid = pid;
        x.phase = 'created';
        x.state = 'CREATED';
      });
    } catch (err) {
      this.d.creator.creationFailed(c, err);
    }
  }

  /** The overlay rootfs is mounted (it normally outlives berthd); mounts it again from the image's layers if not. */
  private async ensureRootfs(c: Container): Promise<void> {
    const { paths, layerDirs } = this.d;
    const rootfs = paths.rootfs(c.id);
    // Image volumes are mounted again where they are not (held, so their layers are there).
    for (const v of c.imageVolumes ?? []) {
      const vi = await this.d.images.get(v.imageId);
      if (!vi) throw new Error(`image ${v.imageId} of the container's volume ${v.mount} is gone`);
      await mountImageVolume(paths.bundle(c.id), v.mount, vi.layerDirs, '', `config.mounts[${v.mount}]`);
    }
    if (statSync(rootfs).dev !== statSync(paths.bundle(c.id)).dev) return;
    const image = await this.d.images.get(c.imageId);
    if (!image) throw new Error(`image ${c.imageId} of the container is gone`);
    await mountRootfs(image.layerDirs, layerDirs.upper(c.id), layerDirs.work(c.id), rootfs);
  }

  /**
   * When the runtime released the container: runc keeps its state in a
   * directory whose exec FIFO goes at start, so the directory's mtime is the
   * start; else now.
   */
  private async startTime(rt: OciRuntime, id: string): Promise<number> {
    return stat(join(rt.root, id)).then((s) => Math.round(s.mtimeMs), () => Date.now());
  }

  /** Runtime state of containers no record names: killed and deleted. */
  private async removeUnknownRuntimeState(): Promise<void> {
    for (const rt of this.d.runtimes.usable()) {
      for (const id of await listDir(rt.root)) {
        if (this.d.store.get(id) || !/^[0-9a-f]{64}$/.test(id)) continue;
        this.d.log.info({ container: id, runtime: rt.name }, 'deleting runtime state of a container berthd has no record of');
        await rt.delete(id).catch((e) => this.d.log.warn({ container: id, err: errorMessage(e) }, 'runtime delete failed'));
      }
    }
  }

  /** conmon processes supervising a bundle of a container no record names. */
  private async killUnknownConmons(): Promise<void> {
    const prefix = `${this.d.paths.bundles}/`;
    for (const pid of await readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(pid)) continue;
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
      const b = args.indexOf('-b');
      if (b < 0 || !args[0]?.endsWith('conmon') || !args[b + 1]?.startsWith(prefix)) continue;
      const id = args[b + 1]!.slice(prefix.length);
      if (this.d.store.get(id)) continue;
      this.d.log.info({ container: id, pid: Number(pid) }, 'killing a conmon of a container berthd has no record of');
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}
