// Checkpoint and restore with CRIU through the OCI runtime.
//
// CheckpointContainer (kubelet's forensic checkpoint) dumps a running
// container with `runc checkpoint --leave-running` and writes, at the
// location kubelet names, a tar archive laid out as CRI-O and containerd
// write theirs, so their tools (checkpointctl, buildah's checkpoint images)
// read it and either can restore it:
//
//   checkpoint/        CRIU's image files
//   config.dump        the container's metadata (id, name, image, runtime, times)
//   spec.dump          its OCI runtime spec
//   rootfs-diff.tar    the files its writable layer added or changed
//   deleted.files      JSON list of image files it deleted
//   container.log      its CRI log
//   dump.log           CRIU's log of the dump; stats-dump its statistics
//
// The archive is written under a temporary name beside the location and
// renamed there, so a failed or cut checkpoint leaves no file at the
// location. Restore: CreateContainer whose image is the path of such an
// archive unpacks it (beside the container's record), mounts the image it
// was taken from with the archive's rootfs diff on top and records the
// container CREATED; StartContainer then has conmon run `runc restore`
// instead of `create` + `start`, so the container continues with its
// memory, processes and open files.
import { constants as fsConstants } from 'node:fs';
import { access, copyFile, link, lstat, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { arch } from 'node:os';
import { dirname, join, normalize, relative, resolve as resolvePath } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Container } from './types.js';
import { alreadyExists, BerthError, failedPrecondition, invalidArgument, notFound } from '../util/errors.js';
import { run, RunError } from '../util/run.js';

export const CHECKPOINT_IMAGES_DIR = 'checkpoint';
export const CONFIG_DUMP = 'config.dump';
export const SPEC_DUMP = 'spec.dump';
export const ROOTFS_DIFF = 'rootfs-diff.tar';
export const DELETED_FILES = 'deleted.files';
export const CONTAINER_LOG = 'container.log';
const DUMP_LOG = 'dump.log';
/** In a checkpoint's work directory: the path of the archive being written. */
export const PARTIAL = '.partial';
const STATS_DUMP = 'stats-dump';

/** What kubelet gets when it names no timeout. */
export const DEFAULT_CHECKPOINT_TIMEOUT_S = 240;

/** config.dump: the fields the peers' tools read, and berth's own. */
export interface CheckpointConfigDump {
  id: string;
  name: string;
  rootfsImage: string;
  rootfsImageRef: string;
  rootfsImageName: string;
  runtime: string;
  createdTime: string;
  checkpointedTime: string;
  /** The machine the dump was taken on, as Go names it (amd64, arm64…). */
  arch?: string;
}

/** CRIU's machine types (core.proto's `mtype`) by the names Go gives architectures. */
const CRIU_MTYPE: Record<number, string> = { 1: 'amd64', 2: 'arm', 3: 'arm64', 4: 'ppc64le', 5: 's390x', 6: 'mips64le', 7: 'loong64', 8: 'riscv64' };

/** This host's architecture as Go (and image platforms) name it. */
export function hostArch(): string {
  const a = arch();
  return ({ x64: 'amd64', ia32: '386', ppc64: 'ppc64le', loong64: 'loong64' } as Record<string, string>)[a] ?? a;
}

/**
 * The architecture a CRIU dump was taken on, from the first core image's
 * CoreEntry.mtype: undefined when the directory has no core image CRIU
 * would read. An image file is two magic numbers, then entries of a
 * 32-bit size and a protobuf message; mtype is field 1, a varint.
 */
export async function criuArch(imagesDir: string): Promise<string | undefined> {
  const names = (await readdir(imagesDir).catch(() => [] as string[])).filter((n) => /^core-\d+\.img$/.test(n)).sort();
  if (!names.length) return undefined;
  const buf = await readFile(join(imagesDir, names[0]!));
  if (buf.length < 13) throw new Error(`${names[0]} is truncated`);
  const size = buf.readUInt32LE(8);
  const msg = buf.subarray(12, 12 + size);
  if (msg[0] !== 0x08) throw new Error(`${names[0]} does not start with a machine type`);
  let value = 0;
  for (let i = 1, shift = 0; i < msg.length && i < 6; i++, shift += 7) {
    value |= (msg[i]! & 0x7f) << shift;
    if (!(msg[i]! & 0x80)) break;
  }
  return CRIU_MTYPE[value] ?? `criu-machine-${value}`;
}

const FORBIDDEN_PREFIXES = ['/proc', '/sys', '/dev'];

/**
 * A checkpoint location kubelet may ask for: absolute, not there yet, in
 * a directory that exists and can be written, outside the kernel's file
 * systems and berthd's own directories.
 */
export async function checkLocation(location: string, ownDirs: readonly string[]): Promise<string> {
  if (!location) throw invalidArgument('location is required');
  if (!location.startsWith('/')) throw invalidArgument(`location "${location}" must be an absolute path`);
  const path = resolvePath(location);
  for (const p of [...FORBIDDEN_PREFIXES, ...ownDirs]) {
    if (path === p || path.startsWith(`${p}/`)) throw invalidArgument(`location "${location}" is under ${p}, where no checkpoint archive may be written`);
  }
  if (await lstat(path).then(() => true, () => false)) throw alreadyExists(`location "${location}" already exists`);
  const dir = dirname(path);
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw notFound(`location "${location}": directory ${dir} does not exist`);
  try {
    await access(dir, fsConstants.W_OK);
  } catch (err) {
    throw failedPrecondition(`location "${location}": directory ${dir} is not writable (${(err as NodeJS.ErrnoException).code})`);
  }
  return path;
}

/** Whiteouts (0/0 character devices) of an overlay upper directory, as image paths, and whether any exist. */
async function whiteouts(upper: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isCharacterDevice() && (await lstat(p)).rdev === 0) out.push(`/${relative(upper, p)}`);
    }
  };
  await walk(upper);
  return out.sort();
}

export interface ArchiveInput {
  container: Container;
  /** The checkpoint's work directory, holding CRIU's images in `checkpoint/` and its dump log. */
  work: string;
  spec: string;
  upper: string;
  runtime: string;
  /** The container's CRI log, when it has one. */
  logPath: string;
}

/** Writes the archive's files into the work directory, then the archive at `dest`, renamed into place. */
export async function writeArchive(inp: ArchiveInput, dest: string): Promise<void> {
  const { container: c, work } = inp;
  const dump: CheckpointConfigDump = {
    id: c.id, name: c.config.name, rootfsImage: c.config.image, rootfsImageRef: c.imageId, rootfsImageName: c.imageRef,
    runtime: inp.runtime, createdTime: new Date(c.createdAt).toISOString(), checkpointedTime: new Date().toISOString(), arch: hostArch(),
  };
  const deleted = await whiteouts(inp.upper);
  await Promise.all([
    writeFile(join(work, CONFIG_DUMP), JSON.stringify(dump, null, 2), { mode: 0o600 }),
    copyFile(inp.spec, join(work, SPEC_DUMP)),
    writeFile(join(work, DELETED_FILES), JSON.stringify(deleted)),
    inp.logPath ? copyFile(inp.logPath, join(work, CONTAINER_LOG)).catch(() => undefined) : Promise.resolve(),
  ]);
  const exclude = join(work, '.exclude');
  await writeFile(exclude, deleted.map((p) => `.${p}`).join('\n'));
  await run('tar', ['-c', '-f', join(work, ROOTFS_DIFF), '-C', inp.upper, '--numeric-owner', '--xattrs', '-X', exclude, '.'], { timeoutMs: 600_000 });
  await rm(exclude);
  const members = [CHECKPOINT_IMAGES_DIR, CONFIG_DUMP, SPEC_DUMP, ROOTFS_DIFF, DELETED_FILES];
  for (const optional of [CONTAINER_LOG, DUMP_LOG, STATS_DUMP]) if (await stat(join(work, optional)).then(() => true, () => false)) members.push(optional);
  const tmp = join(dirname(dest), `.${randomBytes(6).toString('hex')}.checkpoint-tmp`);
  // Named in the work directory first, so a restart after a crash removes it from the caller's directory.
  await writeFile(join(work, PARTIAL), tmp);
  try {
    await run('tar', ['-c', '-f', tmp, '-C', work, '--numeric-owner', ...members], { timeoutMs: 600_000 });
    // A link, unlike a rename, never replaces a file that appeared meanwhile.
    await link(tmp, dest).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EEXIST' ? alreadyExists(`location "${dest}" already exists`) : err;
    });
  } finally {
    await rm(tmp, { force: true });
  }
}

/** True when a CreateContainer image names a checkpoint archive on this host rather than an image. */
export function namesArchive(image: string): boolean {
  return image.startsWith('/');
}

export interface OpenedCheckpoint {
  dir: string;
  config: CheckpointConfigDump;
  spec: Record<string, unknown>;
}

/**
 * Unpacks a checkpoint archive into `dir` and checks it: a missing archive
 * is NOT_FOUND, one that is not a checkpoint (not a tar, files missing or
 * unreadable) INVALID_ARGUMENT, one taken on another architecture
 * FAILED_PRECONDITION, each naming the archive. On any refusal `dir` is
 * removed again.
 */
export async function openArchive(archive: string, dir: string): Promise<OpenedCheckpoint> {
  const field = `config.image: checkpoint archive "${archive}"`;
  const st = await stat(archive).catch(() => undefined);
  if (!st) throw notFound(`${field} does not exist`);
  if (!st.isFile()) throw invalidArgument(`${field} is not a file`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    try {
      await run('tar', ['-x', '-f', archive, '-C', dir, '--numeric-owner', '--no-same-permissions', '--no-overwrite-dir'], { timeoutMs: 600_000 });
    } catch (err) {
      throw invalidArgument(`${field} cannot be unpacked: ${err instanceof RunError ? err.stderr.trim() || err.message : (err as Error).message}`);
    }
    return await checkUnpacked(dir, field);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Annotations by which the peers mark an OCI image built from a checkpoint archive (CRI-O, Podman, checkpointctl, containerd). */
export const CHECKPOINT_IMAGE_ANNOTATIONS = [
  'io.kubernetes.cri-o.annotations.checkpoint.name', 'io.podman.annotations.checkpoint.name',
  'checkpointctl.annotation.checkpoint.name', 'org.criu.checkpoint.container.name',
];

export function isCheckpointImage(annotations: Record<string, string>): boolean {
  return CHECKPOINT_IMAGE_ANNOTATIONS.some((a) => a in annotations);
}

/**
 * A checkpoint image's layers hold the archive's files: they are copied
 * (lowest layer first) into `dir` and checked as an archive is. The image
 * can then go without taking the restored container's files with it.
 */
export async function openCheckpointImage(ref: string, layerDirs: readonly string[], dir: string): Promise<OpenedCheckpoint> {
  const field = `config.image: checkpoint image "${ref}"`;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    for (const layer of layerDirs) await run('cp', ['-a', '--', `${layer}/.`, dir], { timeoutMs: 600_000 });
    return await checkUnpacked(dir, field);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function checkUnpacked(dir: string, field: string): Promise<OpenedCheckpoint> {
  const json = async <T>(name: string): Promise<T> => {
    let text: string;
    try {
      text = await readFile(join(dir, name), 'utf8');
    } catch {
      throw invalidArgument(`${field} has no ${name}; it is not a container checkpoint`);
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw invalidArgument(`${field}: ${name} is not valid JSON (${(err as Error).message})`);
    }
  };
  const config = await json<CheckpointConfigDump>(CONFIG_DUMP);
  const spec = await json<Record<string, unknown>>(SPEC_DUMP);
  if (typeof config.id !== 'string' || typeof config.rootfsImage !== 'string') throw invalidArgument(`${field}: ${CONFIG_DUMP} names no container or image`);
  if (typeof spec.process !== 'object' || spec.process === null) throw invalidArgument(`${field}: ${SPEC_DUMP} has no process`);
  const images = join(dir, CHECKPOINT_IMAGES_DIR);
  if (!(await stat(images).then((s) => s.isDirectory(), () => false))) throw invalidArgument(`${field} has no ${CHECKPOINT_IMAGES_DIR}/ directory of CRIU images`);
  let dumped: string | undefined;
  try {
    dumped = config.arch ?? (await criuArch(images));
  } catch (err) {
    throw invalidArgument(`${field}: CRIU core image unreadable: ${(err as Error).message}`);
  }
  if (!dumped) throw invalidArgument(`${field}: ${CHECKPOINT_IMAGES_DIR}/ holds no CRIU core image`);
  if (dumped !== hostArch()) throw failedPrecondition(`${field} was taken on ${dumped}; this host is ${hostArch()}`);
  return { dir, config, spec };
}

/** The images a restore may take its root filesystem from, most exact first. */
export function baseImageCandidates(config: CheckpointConfigDump): string[] {
  return [config.rootfsImageRef, config.rootfsImageName, config.rootfsImage].filter((s): s is string => typeof s === 'string' && s !== '');
}

/** Puts the archive's writable-layer changes on a freshly mounted root filesystem. */
export async function applyRootfsDiff(dir: string, rootfs: string): Promise<void> {
  const diff = join(dir, ROOTFS_DIFF);
  if (await stat(diff).then(() => true, () => false)) {
    await run('tar', ['-x', '-f', diff, '-C', rootfs, '--numeric-owner', '--same-owner', '--xattrs', '--no-overwrite-dir'], { timeoutMs: 600_000 });
  }
  let deleted: unknown = [];
  try {
    deleted = JSON.parse(await readFile(join(dir, DELETED_FILES), 'utf8'));
  } catch {
    // Archives without the list deleted nothing.
  }
  for (const p of Array.isArray(deleted) ? deleted : []) {
    if (typeof p !== 'string') continue;
    const rel = normalize(p).replace(/^\/+/, '');
    if (!rel || rel.split('/').includes('..')) continue;
    await rm(join(rootfs, rel), { recursive: true, force: true });
  }
}

/**
 * The restored process is the one CRIU dumped: its arguments, environment,
 * working directory, user and terminal come from the archive's spec; the
 * rest (namespaces, mounts, cgroup, devices) is the new pod's.
 */
export function restoredSpec(spec: Record<string, unknown>, dumped: Record<string, unknown>): void {
  const proc = spec.process as Record<string, unknown>;
  const old = dumped.process as Record<string, unknown>;
  for (const k of ['args', 'env', 'cwd', 'user', 'terminal']) if (old[k] !== undefined) proc[k] = old[k];
}

/** A runtime failure of checkpoint or restore, with CRIU's own last error lines when its log says more. */
export async function criuFailure(what: string, err: unknown, logs: string[], timeoutS?: number): Promise<BerthError> {
  if (err instanceof RunError && err.code === null && /still running after/.test(err.stderr) && timeoutS !== undefined) {
    return new BerthError('DeadlineExceeded', `${what}: not done after ${timeoutS}s`);
  }
  let detail = '';
  for (const l of logs) {
    const text = await readFile(l, 'utf8').catch(() => '');
    const errors = text.split('\n').filter((line) => /Error|error/.test(line)).slice(-4).map((line) => line.replace(/^\(\d+\.\d+\)\s*/, ''));
    if (errors.length) {
      detail = `; CRIU: ${errors.join(' | ')}`;
      break;
    }
  }
  const msg = err instanceof RunError ? err.stderr.trim() || err.message : (err as Error).message;
  return failedPrecondition(`${what}: ${msg}${detail}`);
}
