// The container service's side of checkpoint and restore (the archive
// format and its checks are in checkpoint.ts): CheckpointContainer under
// the container's lock, the unpacked archives of containers being restored
// (`<daemon.root>/checkpoints/<id>`, removed with the container), and the
// restore that StartContainer runs through conmon.
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/config.js';
import type { ImageForContainer } from '../image/provider.js';
import type { OciRuntime, ConmonOptions } from '../runtime/oci.js';
import type { Container, ContainerConfig } from './types.js';
import type { ContainerParts } from './parts.js';
import { failedPrecondition, notFound } from '../util/errors.js';
import {
  CHECKPOINT_IMAGES_DIR, DEFAULT_CHECKPOINT_TIMEOUT_S, PARTIAL, SPEC_DUMP, applyRootfsDiff, baseImageCandidates, checkLocation, criuFailure,
  openArchive, openCheckpointImage, restoredSpec, writeArchive, type OpenedCheckpoint,
} from './checkpoint.js';

export interface CheckpointerDeps extends ContainerParts {
  config: Config;
  runtimeOf(c: Container): OciRuntime;
  conmonOptions(c: Container): ConmonOptions;
}

export class ContainerCheckpointer {
  constructor(private readonly d: CheckpointerDeps) {}

  /** Unpacked archives of restored containers, and checkpoints being written. */
  get dir(): string {
    return join(this.d.paths.checkpoint(''));
  }
  /** Where the archive a container is restored from is unpacked. */
  restoreDir(id: string): string {
    return this.d.paths.checkpoint(id);
  }

  /**
   * CheckpointContainer: CRIU dumps the running container (which keeps
   * running), then the archive is written at `location`. Unknown
   * containers are NOT_FOUND, ones not running FAILED_PRECONDITION, a bad
   * location is refused before anything runs; a dump that fails or
   * overruns the timeout leaves nothing at the location.
   */
  async checkpoint(idOrPrefix: string, location: string, timeoutS: number): Promise<void> {
    const c = this.d.store.resolve(idOrPrefix);
    const { root, state } = this.d.config.daemon;
    const dest = await checkLocation(location, [root, state]);
    const timeout = timeoutS > 0 ? timeoutS : DEFAULT_CHECKPOINT_TIMEOUT_S;
    await this.d.locks.with(c.id, async () => {
      if (c.state !== 'RUNNING') throw failedPrecondition(`container ${c.id} is ${c.state}; only a running container can be checkpointed`);
      const work = join(this.dir, `.work-${c.id.slice(0, 12)}-${randomBytes(4).toString('hex')}`);
      await mkdir(join(work, CHECKPOINT_IMAGES_DIR), { recursive: true, mode: 0o700 });
      try {
        const rt = this.d.runtimeOf(c);
        try {
          await rt.checkpoint(c.id, join(work, CHECKPOINT_IMAGES_DIR), work, timeout * 1000);
        } catch (err) {
          throw await criuFailure(`checkpointing container ${c.id}`, err, [join(work, 'dump.log')], timeout);
        }
        const bundle = this.d.paths.bundle(c.id);
        await writeArchive({
          container: c, work, spec: join(bundle, 'config.json'), upper: this.d.layerDirs.upper(c.id), runtime: rt.name,
          logPath: c.logPath || join(bundle, 'console.log'),
        }, dest);
        this.d.log.info({ container: c.id, location: dest }, 'container checkpointed');
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
  }

  /**
   * The archive a CreateContainer names, unpacked for container `id`, and
   * the image it was taken from, which must be on this host (NOT_FOUND
   * naming it otherwise, and nothing is left). A config naming no command
   * gets the dumped process's (the spec's process is the dumped one anyway).
   */
  async open(archive: string, id: string, cfg: ContainerConfig): Promise<ImageForContainer> {
    return this.baseImage(await openArchive(archive, this.restoreDir(id)), cfg, `checkpoint archive "${archive}"`);
  }

  /** The same for an OCI image built from a checkpoint archive (its layers hold the archive's files). */
  async openImage(image: ImageForContainer, id: string, cfg: ContainerConfig): Promise<ImageForContainer> {
    return this.baseImage(await openCheckpointImage(cfg.image, image.layerDirs, this.restoreDir(id)), cfg, `checkpoint image "${cfg.image}"`);
  }

  private async baseImage(opened: OpenedCheckpoint, cfg: ContainerConfig, what: string): Promise<ImageForContainer> {
    const args = (opened.spec.process as { args?: unknown }).args;
    if (!cfg.command.length && !cfg.args.length && Array.isArray(args)) cfg.command = args.map(String);
    for (const ref of baseImageCandidates(opened.config)) {
      const image = await this.d.images.get(ref);
      if (image) return image;
    }
    await rm(opened.dir, { recursive: true, force: true });
    throw notFound(`config.image: ${what} was taken from image "${opened.config.rootfsImage}", which is not on this host; pull it first`);
  }

  /** The restored container's root filesystem and spec: the archive's rootfs diff applied, the dumped process kept. */
  async prepare(c: Container, spec: Record<string, unknown>, rootfs: string): Promise<void> {
    const dir = this.restoreDir(c.id);
    await applyRootfsDiff(dir, rootfs);
    restoredSpec(spec, JSON.parse(await readFile(join(dir, SPEC_DUMP), 'utf8')) as Record<string, unknown>);
  }

  /** StartContainer of a restored container: conmon runs `runtime restore` from the unpacked images; resolves with the PID. */
  async start(c: Container): Promise<number> {
    const images = join(this.restoreDir(c.id), CHECKPOINT_IMAGES_DIR);
    const opts = { ...this.d.conmonOptions(c), restore: images };
    try {
      return await (await this.d.runtimeOf(c).launchConmon(opts)).create();
    } catch (err) {
      throw await criuFailure(`restoring container ${c.id}`, err, [join(this.d.paths.bundle(c.id), 'restore.log')]);
    }
  }

  /** After a restart: unpacked archives and work directories of no known container go, and archives a crash cut short. */
  async removeStale(known: ReadonlySet<string>): Promise<void> {
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (known.has(name)) continue;
      const partial = await readFile(join(this.dir, name, PARTIAL), 'utf8').catch(() => '');
      if (partial.endsWith('.checkpoint-tmp')) await rm(partial, { force: true });
      await rm(join(this.dir, name), { recursive: true, force: true });
    }
  }
}
