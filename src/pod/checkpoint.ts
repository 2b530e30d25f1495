// CheckpointPod and RestorePod: a pod's chosen running containers
// checkpointed into a directory the caller owns, and a new pod made from
// such a directory with its containers restored (left CREATED; kubelet
// starts them). The directory holds what CRI-O's pod checkpoints hold:
// `pod.dump` (the pod's sandbox config), `pod.options` (format version and
// the containers, by name) and one container checkpoint archive per
// container, `<name>.tar` (see src/container/checkpoint.ts). Containers are
// dumped one after the other, each left running: the pod's processes are
// not frozen together.
import { access, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import type { SandboxService } from '../sandbox/service.js';
import type { ContainerService } from '../container/service.js';
import type { SandboxConfig } from '../sandbox/types.js';
import type { ContainerConfig } from '../container/types.js';
import type { Pods } from './pods.js';
import { errorMessage, failedPrecondition, invalidArgument, notFound } from '../util/errors.js';

export const POD_DUMP = 'pod.dump';
export const POD_OPTIONS = 'pod.options';
const POD_FORMAT = 1;
/** Options either call takes; any other key is refused, as the CRI asks. */
const CHECKPOINT_OPTIONS = new Set(['timeout']);
const RESTORE_OPTIONS = new Set<string>();

interface PodOptionsFile {
  version: number;
  containers: string[];
  mountLabel: string;
  processLabel: string;
}

function checkOptions(options: Record<string, string>, known: Set<string>): void {
  for (const key of Object.keys(options).sort()) {
    if (!known.has(key)) throw invalidArgument(`options: unknown key "${key}"${known.size ? ` (known: ${[...known].join(', ')})` : ' (none are known)'}`);
  }
}

export class PodCheckpoints {
  constructor(
    private readonly sandboxes: SandboxService,
    private readonly containers: ContainerService,
    private readonly pods: Pods,
    private readonly ownDirs: readonly string[],
  ) {}

  async checkpoint(podId: string, outputPath: string, containerIds: string[], options: Record<string, string>): Promise<void> {
    checkOptions(options, CHECKPOINT_OPTIONS);
    const timeout = options.timeout === undefined ? 0 : Number(options.timeout);
    if (!Number.isSafeInteger(timeout) || timeout < 0) throw invalidArgument(`options.timeout "${options.timeout}" must be a non-negative number of seconds`);
    const sb = this.sandboxes.resolve(podId);
    if (sb.state !== 'READY') throw failedPrecondition(`pod sandbox ${sb.id} is not ready (state ${sb.state})`);
    if (!containerIds.length) throw invalidArgument('container_ids must name at least one running container of the pod');
    const chosen = containerIds.map((ref) => {
      const c = this.containers.resolve(ref, 'container_ids');
      if (c.sandboxId !== sb.id) throw invalidArgument(`container_ids: container ${c.id} is not in pod ${sb.id}`);
      if (c.state !== 'RUNNING') throw failedPrecondition(`container_ids: container ${c.id} is ${c.state}, not RUNNING`);
      return c;
    });
    const ids = new Set<string>();
    const names = new Set<string>();
    for (const c of chosen) {
      if (ids.has(c.id)) throw invalidArgument(`container_ids: container ${c.id} is named twice`);
      if (names.has(c.config.name)) throw invalidArgument(`container_ids: two containers are named "${c.config.name}"`);
      ids.add(c.id);
      names.add(c.config.name);
    }
    const out = await this.checkOutput(outputPath);
    const written: string[] = [];
    try {
      for (const c of chosen) {
        const file = join(out, `${c.config.name}.tar`);
        written.push(file);
        await this.containers.checkpoint(c.id, file, timeout);
      }
      const podDump = { metadata: { name: sb.config.name, uid: sb.config.uid, namespace: sb.config.namespace, attempt: sb.config.attempt }, hostname: sb.config.hostname, config: sb.config, handler: sb.handler };
      const opts: PodOptionsFile = { version: POD_FORMAT, containers: chosen.map((c) => c.config.name), mountLabel: '', processLabel: '' };
      written.push(join(out, POD_DUMP), join(out, POD_OPTIONS));
      await writeFile(join(out, POD_DUMP), JSON.stringify(podDump, null, 2));
      await writeFile(join(out, POD_OPTIONS), JSON.stringify(opts, null, 2));
    } catch (err) {
      // The directory is the caller's: only what this call wrote goes.
      await Promise.all(written.map((f) => rm(f, { force: true })));
      throw err;
    }
  }

  private async checkOutput(path: string): Promise<string> {
    if (!path.startsWith('/')) throw invalidArgument(`output_path "${path}" must be an absolute path`);
    const out = resolvePath(path);
    for (const p of ['/proc', '/sys', '/dev', ...this.ownDirs]) {
      if (out === p || out.startsWith(`${p}/`)) throw invalidArgument(`output_path "${path}" is under ${p}, where no checkpoint may be written`);
    }
    const st = await stat(out).catch(() => undefined);
    if (!st) throw notFound(`output_path "${path}" does not exist`);
    if (!st.isDirectory()) throw invalidArgument(`output_path "${path}" is not a directory`);
    if ((await readdir(out)).length) throw failedPrecondition(`output_path "${path}" is not empty`);
    try {
      await access(out, fsConstants.W_OK);
    } catch (err) {
      throw failedPrecondition(`output_path "${path}" is not writable (${(err as NodeJS.ErrnoException).code})`);
    }
    return out;
  }

  /**
   * RestorePod: a new pod from `config`, and one container per
   * checkpointed one, created from its archive with the caller's config of
   * the same name. Anything refused removes the pod again.
   */
  async restore(checkpointPath: string, config: SandboxConfig, handler: string, options: Record<string, string>, configs: ContainerConfig[]): Promise<{ podId: string; containers: { name: string; id: string }[] }> {
    checkOptions(options, RESTORE_OPTIONS);
    if (!checkpointPath.startsWith('/')) throw invalidArgument(`checkpoint_path "${checkpointPath}" must be an absolute path`);
    const dir = resolvePath(checkpointPath);
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) throw notFound(`checkpoint_path "${checkpointPath}" is not a directory`);
    const read = async (name: string): Promise<unknown> => {
      let text: string;
      try {
        text = await readFile(join(dir, name), 'utf8');
      } catch {
        throw invalidArgument(`checkpoint_path "${checkpointPath}" has no ${name}; it is not a pod checkpoint`);
      }
      try {
        return JSON.parse(text);
      } catch (err) {
        throw invalidArgument(`checkpoint_path "${checkpointPath}": ${name} is not valid JSON (${errorMessage(err)})`);
      }
    };
    await read(POD_DUMP);
    const opts = await read(POD_OPTIONS) as Partial<PodOptionsFile>;
    if (opts.version !== POD_FORMAT || !Array.isArray(opts.containers) || opts.containers.some((n) => typeof n !== 'string')) {
      throw invalidArgument(`checkpoint_path "${checkpointPath}": ${POD_OPTIONS} is not a version ${POD_FORMAT} pod checkpoint`);
    }
    const byName = new Map(configs.map((c, i) => [c.name, { c, i }]));
    for (const c of configs) {
      if (!opts.containers.includes(c.name)) throw invalidArgument(`container_configs: "${c.name}" is not a container of the checkpoint (it has ${opts.containers.join(', ')})`);
    }
    for (const name of opts.containers) if (!byName.has(name)) throw invalidArgument(`container_configs: no config for checkpointed container "${name}"`);
    const podId = await this.sandboxes.run(config, handler);
    const out: { name: string; id: string }[] = [];
    try {
      for (const name of opts.containers) {
        const cfg = { ...byName.get(name)!.c, image: join(dir, `${name}.tar`) };
        out.push({ name, id: await this.containers.create(podId, cfg) });
      }
    } catch (err) {
      await this.pods.remove(podId);
      throw err;
    }
    return { podId, containers: out };
  }
}
