import { createReadStream, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { CriClient } from './client.js';
import { withClient, outputOption, outputFormat, documentFormat, collectLabels, parseInfo, printStructured, printDocuments } from './common.js';
import { readMessageFile } from './config-file.js';
import { resolvePodId, podNames } from './pods.js';
import { ago, humanBytes, table, truncId } from './format.js';
import { runInteractive } from './interactive.js';

interface Container {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number };
  image: { image: string };
  imageRef: string;
  state: string;
  createdAt: string;
  labels: Record<string, string>;
}

export async function resolveContainerId(client: CriClient, id: string): Promise<string> {
  const res = await client.call<{ containers: Container[] }>('ListContainers', {});
  const matches = (res.containers ?? []).filter((c) => c.id.startsWith(id));
  if (matches.length === 1) return matches[0].id;
  if (matches.length > 1) throw new Error(`container ID prefix "${id}" is ambiguous`);
  return id;
}

/** One line of the CRI log format: `<RFC3339Nano> <stream> <P|F> <text>`. */
export function parseCriLogLine(line: string): { time: string; stream: string; partial: boolean; text: string } | undefined {
  const m = /^(\S+) (stdout|stderr) ([PF])(?: (.*))?$/.exec(line);
  if (!m) return undefined;
  return { time: m[1], stream: m[2], partial: m[3] === 'P', text: m[4] ?? '' };
}

export function registerContainerCommands(program: Command): void {
  outputOption(program.command('ps').description('list containers'))
    .option('-a, --all', 'show all containers, not only running ones')
    .option('-q, --quiet', 'only container IDs')
    .option('-p, --pod <pod-id>', 'filter by pod sandbox ID')
    .option('--id <id>', 'filter by container ID')
    .option('--name <name>', 'filter by container name (substring)')
    .option('--namespace <ns>', 'filter by the pod\'s namespace (substring)')
    .option('--state <state>', 'filter by state: created, running, exited, unknown')
    .option('--label <key=value>', 'filter by label (repeatable)', collectLabels, {})
    .option('--no-trunc', 'show full IDs')
    .action(
      withClient(async (client, _args, cmd) => {
        const o = cmd.opts();
        const format = outputFormat(cmd);
        const filter: Record<string, unknown> = {};
        if (o.id) filter.id = o.id;
        if (o.pod) filter.podSandboxId = await resolvePodId(client, o.pod as string);
        if (o.state) filter.state = { state: `CONTAINER_${(o.state as string).toUpperCase()}` };
        else if (!o.all) filter.state = { state: 'CONTAINER_RUNNING' };
        if (Object.keys(o.label as object).length) filter.labelSelector = o.label;
        const res = await client.call<{ containers: Container[] }>('ListContainers', { filter });
        let items = res.containers ?? [];
        if (o.name) items = items.filter((c) => c.metadata.name.includes(o.name as string));
        const pods = !o.quiet || o.namespace ? await podNames(client) : new Map<string, { name: string; namespace: string }>();
        // kubelet labels its containers with the pod's name and namespace; other clients' containers have only their pod.
        const podOf = (c: Container) => ({
          name: c.labels?.['io.kubernetes.pod.name'] ?? pods.get(c.podSandboxId)?.name ?? '',
          namespace: c.labels?.['io.kubernetes.pod.namespace'] ?? pods.get(c.podSandboxId)?.namespace ?? '',
        });
        if (o.namespace) items = items.filter((c) => podOf(c).namespace.includes(o.namespace as string));
        items.sort((a, b) => (BigInt(b.createdAt) > BigInt(a.createdAt) ? 1 : -1));
        if (o.quiet) return void process.stdout.write(items.map((c) => c.id + '\n').join(''));
        if (format !== 'table') return printStructured({ containers: items }, format);
        const full = o.trunc === false;
        process.stdout.write(
          table(
            ['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'POD', 'POD NAMESPACE'],
            items.map((c) => [
              truncId(c.id, full), c.image?.image ?? c.imageRef, ago(c.createdAt), c.state.replace('CONTAINER_', ''),
              c.metadata.name, String(c.metadata.attempt), truncId(c.podSandboxId, full), podOf(c).name, podOf(c).namespace,
            ]),
          ),
        );
      }),
    );

  program
    .command('create')
    .description('create a container in a pod sandbox')
    .argument('<pod-id>', 'pod sandbox ID')
    .argument('<container-config>', 'ContainerConfig file (JSON or YAML)')
    .argument('<pod-config>', 'PodSandboxConfig file the pod was run with')
    .action(
      withClient(async (client, args) => {
        const [pod, cfile, pfile] = args as [string, string, string];
        const res = await client.call<{ containerId: string }>(
          'CreateContainer',
          {
            podSandboxId: await resolvePodId(client, pod),
            config: readMessageFile(cfile, 'ContainerConfig'),
            sandboxConfig: readMessageFile(pfile, 'PodSandboxConfig'),
          },
          0,
        );
        process.stdout.write(res.containerId + '\n');
      }),
    );

  for (const [name, method, desc] of [
    ['start', 'StartContainer', 'start created containers'],
    ['rm', 'RemoveContainer', 'remove containers'],
  ] as const) {
    program
      .command(name)
      .description(desc)
      .argument('<container-id...>', 'container IDs or unique prefixes')
      .action(
        withClient(async (client, args) => {
          const [ids] = args as [string[]];
          for (const id of ids) {
            const full = await resolveContainerId(client, id);
            await client.call(method, { containerId: full }, 0);
            process.stdout.write(full + '\n');
          }
        }),
      );
  }

  program
    .command('stop')
    .description('stop running containers')
    .argument('<container-id...>', 'container IDs or unique prefixes')
    .option('-t, --timeout <seconds>', 'seconds to wait before killing', '10')
    .action(
      withClient(async (client, args, cmd) => {
        const [ids] = args as [string[]];
        const timeout = Number(cmd.opts().timeout);
        for (const id of ids) {
          const full = await resolveContainerId(client, id);
          await client.call('StopContainer', { containerId: full, timeout }, 0);
          process.stdout.write(full + '\n');
        }
      }),
    );

  outputOption(program.command('inspect').description('show a container\'s status (verbose)'), 'json')
    .argument('<container-id...>', 'container IDs or unique prefixes')
    .action(
      withClient(async (client, args, cmd) => {
        const [ids] = args as [string[]];
        const format = documentFormat(cmd);
        const docs: unknown[] = [];
        for (const id of ids) {
          const res = await client.call<{ status: unknown; info: Record<string, string> }>('ContainerStatus', {
            containerId: await resolveContainerId(client, id),
            verbose: true,
          });
          docs.push({ status: res.status, info: parseInfo(res.info) });
        }
        printDocuments(docs, format);
      }),
    );

  program
    .command('logs')
    .description('print a container\'s log (read from its CRI log file)')
    .argument('<container-id>', 'container ID or unique prefix')
    .option('-f, --follow', 'keep printing new lines')
    .option('--tail <n>', 'only the last n lines')
    .option('-t, --timestamps', 'show timestamps')
    .action(
      withClient(async (client, args, cmd) => {
        const [id] = args as [string];
        const o = cmd.opts();
        const full = await resolveContainerId(client, id);
        const st = await client.call<{ status: { logPath: string; state: string } }>('ContainerStatus', { containerId: full });
        const path = st.status.logPath;
        if (!path) throw new Error(`container ${full} has no log path`);
        await printLog(client, full, path, {
          follow: Boolean(o.follow),
          tail: o.tail === undefined ? undefined : Number(o.tail),
          timestamps: Boolean(o.timestamps),
        });
      }),
    );

  program
    .command('exec')
    .description('run a command in a running container: with -i or -t through the runtime\'s streaming server (CRI Exec), otherwise to its end (CRI ExecSync)')
    .usage('[options] <container-id> <command> [args...]')
    .argument('<container-id>', 'container ID or unique prefix')
    .argument('<command...>', 'command and arguments; options after the container ID belong to the command')
    .option('-i, --interactive', 'send stdin to the command')
    .option('-t, --tty', 'run the command on a terminal (resized with this one)')
    .option('-s, --sync', 'run with ExecSync even with -i or -t (no stdin, no terminal)')
    .option('--timeout <seconds>', 'ExecSync: kill the command after this many seconds (0: none)', '0')
    // Like crictl: `berth exec ID sh -c '…'` gives -c to sh, not to berth.
    .passThroughOptions()
    .action(
      withClient(async (client, args, cmd) => {
        const [id, rest] = args as [string, string[]];
        const command = rest[0] === '--' ? rest.slice(1) : rest;
        if (command.length === 0) throw new Error('exec needs a command');
        const o = cmd.opts();
        const containerId = await resolveContainerId(client, id);
        if (o.sync || (!o.interactive && !o.tty)) {
          const timeout = Number(o.timeout);
          const res = await client.call<{ stdout: Buffer; stderr: Buffer; exitCode: number }>(
            'ExecSync', { containerId, cmd: command, timeout }, timeout > 0 ? (timeout + 10) * 1000 : 0,
          );
          process.stdout.write(res.stdout);
          process.stderr.write(res.stderr);
          process.exitCode = res.exitCode;
          return;
        }
        const tty = Boolean(o.tty);
        const stdin = Boolean(o.interactive);
        const { url } = await client.call<{ url: string }>('Exec', { containerId, cmd: command, tty, stdin, stdout: true, stderr: !tty });
        process.exitCode = await runInteractive(url, { tty, stdin });
      }),
    );

  program
    .command('attach')
    .description('attach to a running container\'s output (and stdin with -i) through the runtime\'s streaming server (CRI Attach)')
    .argument('<container-id>', 'container ID or unique prefix')
    .option('-i, --stdin', 'send stdin to the container (its config must keep stdin open)')
    .option('-t, --tty', 'the container runs on a terminal (resized with this one)')
    .action(
      withClient(async (client, args, cmd) => {
        const [id] = args as [string];
        const o = cmd.opts();
        const tty = Boolean(o.tty);
        const stdin = Boolean(o.stdin);
        const containerId = await resolveContainerId(client, id);
        const { url } = await client.call<{ url: string }>('Attach', { containerId, tty, stdin, stdout: true, stderr: !tty });
        process.exitCode = await runInteractive(url, { tty, stdin });
      }),
    );

  outputOption(program.command('stats').description('show container resource usage'))
    .argument('[container-id]', 'container ID or unique prefix')
    .option('-a, --all', 'include stopped containers')
    .option('-p, --pod <pod-id>', 'filter by pod sandbox ID')
    .action(
      withClient(async (client, args, cmd) => {
        const [id] = args as [string | undefined];
        const o = cmd.opts();
        const format = outputFormat(cmd);
        type Stats = {
          attributes: { id: string; metadata: { name: string } };
          cpu: { usageCoreNanoSeconds: { value: string } | null; usageNanoCores: { value: string } | null } | null;
          memory: { workingSetBytes: { value: string } | null } | null;
          writableLayer: { usedBytes: { value: string } | null; inodesUsed: { value: string } | null } | null;
        };
        let stats: Stats[];
        if (id) {
          const res = await client.call<{ stats: Stats }>('ContainerStats', { containerId: await resolveContainerId(client, id) });
          stats = [res.stats];
        } else {
          const filter: Record<string, unknown> = {};
          if (o.pod) filter.podSandboxId = await resolvePodId(client, o.pod as string);
          const res = await client.call<{ stats: Stats[] }>('ListContainerStats', { filter });
          stats = res.stats ?? [];
        }
        if (format !== 'table') return printStructured({ stats }, format);
        process.stdout.write(
          table(
            ['CONTAINER', 'NAME', 'CPU %', 'MEM', 'DISK', 'INODES'],
            stats.map((s) => [
              truncId(s.attributes.id, false), s.attributes.metadata?.name ?? '',
              s.cpu?.usageNanoCores ? (Number(s.cpu.usageNanoCores.value) / 1e7).toFixed(2) : '0.00',
              humanBytes(s.memory?.workingSetBytes?.value), humanBytes(s.writableLayer?.usedBytes?.value),
              s.writableLayer?.inodesUsed?.value ?? '0',
            ]),
          ),
        );
      }),
    );
}

async function printLog(
  client: CriClient,
  id: string,
  path: string,
  o: { follow: boolean; tail?: number; timestamps: boolean },
): Promise<void> {
  let offset = 0;
  let pending = '';
  let partial = '';
  const emit = (lines: string[]) => {
    for (const line of lines) {
      const rec = parseCriLogLine(line);
      if (!rec) continue;
      // Partial records are pieces of one long line; join them before printing.
      if (rec.partial) {
        partial += rec.text;
        continue;
      }
      const text = partial + rec.text;
      partial = '';
      const out = (o.timestamps ? `${rec.time} ` : '') + text + '\n';
      (rec.stream === 'stderr' ? process.stderr : process.stdout).write(out);
    }
  };
  const readNew = async (): Promise<string[]> => {
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return [];
    }
    if (size < offset) offset = 0; // rotated or reopened
    if (size === offset) return [];
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(path, { start: offset, end: size - 1 })) chunks.push(c as Buffer);
    offset = size;
    const text = pending + Buffer.concat(chunks).toString('utf8');
    const lines = text.split('\n');
    pending = lines.pop() ?? '';
    return lines;
  };
  let first = await readNew();
  if (o.tail !== undefined) first = o.tail === 0 ? [] : first.slice(-o.tail);
  emit(first);
  while (o.follow) {
    await sleep(200);
    emit(await readNew());
    const st = await client.call<{ status: { state: string } }>('ContainerStatus', { containerId: id }).catch(() => undefined);
    if (!st || st.status.state !== 'CONTAINER_RUNNING') {
      emit(await readNew());
      break;
    }
  }
}
