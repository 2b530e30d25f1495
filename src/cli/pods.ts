import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { CriClient } from './client.js';
import { withClient, outputOption, outputFormat, documentFormat, collectLabels, parseInfo, printStructured, printDocuments, failureMessage } from './common.js';
import { readMessageFile } from './config-file.js';
import { ago, humanBytes, table, truncId } from './format.js';
import { forwardConnection } from './stream-client.js';

interface PodSandbox {
  id: string;
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  state: string;
  createdAt: string;
  labels: Record<string, string>;
  runtimeHandler: string;
}

/** Turns a unique ID prefix into the full sandbox ID, as crictl does. */
export async function resolvePodId(client: CriClient, id: string): Promise<string> {
  const res = await client.call<{ items: PodSandbox[] }>('ListPodSandbox', {});
  const matches = (res.items ?? []).filter((p) => p.id.startsWith(id));
  if (matches.length === 1) return matches[0].id;
  if (matches.length > 1) throw new Error(`pod sandbox ID prefix "${id}" is ambiguous`);
  return id;
}

/** Every pod's name and namespace by ID. */
export async function podNames(client: CriClient): Promise<Map<string, { name: string; namespace: string }>> {
  const res = await client.call<{ items: PodSandbox[] }>('ListPodSandbox', {});
  return new Map((res.items ?? []).map((p) => [p.id, { name: p.metadata?.name ?? '', namespace: p.metadata?.namespace ?? '' }]));
}

/** `[LOCAL:]REMOTE`; an empty or 0 local port means any free one. */
export function parsePortSpec(spec: string): { local: number; remote: number } {
  const m = /^(?:(\d*):)?(\d+)$/.exec(spec);
  const remote = Number(m?.[2]);
  const local = m?.[1] === undefined ? remote : m[1] === '' ? 0 : Number(m[1]);
  if (!m || !(remote >= 1 && remote <= 65535) || !(local >= 0 && local <= 65535)) {
    throw new Error(`port "${spec}" must be [LOCAL_PORT:]REMOTE_PORT with ports 1-65535`);
  }
  return { local, remote };
}

interface PodStats {
  attributes: { id: string; metadata: { name: string; namespace: string } | null };
  linux: {
    cpu: { timestamp: string; usageCoreNanoSeconds: { value: string } | null } | null;
    memory: { workingSetBytes: { value: string } | null } | null;
  } | null;
}

export function registerPodCommands(program: Command): void {
  outputOption(program.command('pods').description('list pod sandboxes'))
    .option('-q, --quiet', 'only pod IDs')
    .option('--id <id>', 'filter by pod ID')
    .option('--name <name>', 'filter by pod name (substring)')
    .option('--namespace <ns>', 'filter by namespace (substring)')
    .option('--state <state>', 'filter by state: ready or notready')
    .option('--label <key=value>', 'filter by label (repeatable)', collectLabels, {})
    .option('--no-trunc', 'show full IDs')
    .action(
      withClient(async (client, _args, cmd) => {
        const o = cmd.opts();
        const format = outputFormat(cmd);
        const filter: Record<string, unknown> = {};
        if (o.id) filter.id = o.id;
        if (o.state) filter.state = { state: (o.state as string).toLowerCase() === 'ready' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY' };
        if (Object.keys(o.label as object).length) filter.labelSelector = o.label;
        const res = await client.call<{ items: PodSandbox[] }>('ListPodSandbox', { filter });
        let items = res.items ?? [];
        if (o.name) items = items.filter((p) => p.metadata.name.includes(o.name as string));
        if (o.namespace) items = items.filter((p) => p.metadata.namespace.includes(o.namespace as string));
        items.sort((a, b) => (BigInt(b.createdAt) > BigInt(a.createdAt) ? 1 : -1));
        if (o.quiet) return void process.stdout.write(items.map((p) => p.id + '\n').join(''));
        if (format !== 'table') return printStructured({ items }, format);
        process.stdout.write(
          table(
            ['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT', 'RUNTIME'],
            items.map((p) => [
              truncId(p.id, o.trunc === false), ago(p.createdAt), p.state.replace('SANDBOX_', ''),
              p.metadata.name, p.metadata.namespace, String(p.metadata.attempt), p.runtimeHandler || '(default)',
            ]),
          ),
        );
      }),
    );

  program
    .command('runp')
    .description('run a pod sandbox from a config file (JSON or YAML, crictl format)')
    .argument('<pod-config>', 'PodSandboxConfig file')
    .option('-r, --runtime <handler>', 'runtime handler')
    .action(
      withClient(async (client, args, cmd) => {
        const [file] = args as [string];
        const config = readMessageFile(file, 'PodSandboxConfig');
        const res = await client.call<{ podSandboxId: string }>(
          'RunPodSandbox', { config, runtimeHandler: cmd.opts().runtime ?? '' }, 0,
        );
        process.stdout.write(res.podSandboxId + '\n');
      }),
    );

  for (const [name, method, desc] of [
    ['stopp', 'StopPodSandbox', 'stop pod sandboxes'],
    ['rmp', 'RemovePodSandbox', 'remove pod sandboxes'],
  ] as const) {
    program
      .command(name)
      .description(desc)
      .argument('<pod-id...>', 'pod sandbox IDs or unique prefixes')
      .action(
        withClient(async (client, args) => {
          const [ids] = args as [string[]];
          for (const id of ids) {
            const full = await resolvePodId(client, id);
            await client.call(method, { podSandboxId: full }, 0);
            process.stdout.write(`${method === 'StopPodSandbox' ? 'Stopped' : 'Removed'} sandbox ${full}\n`);
          }
        }),
      );
  }

  outputOption(program.command('inspectp').description('show a pod sandbox\'s status (verbose)'), 'json')
    .argument('<pod-id...>', 'pod sandbox IDs or unique prefixes')
    .action(
      withClient(async (client, args, cmd) => {
        const [ids] = args as [string[]];
        const format = documentFormat(cmd);
        const docs: unknown[] = [];
        for (const id of ids) {
          const res = await client.call<{ status: unknown; info: Record<string, string>; containersStatuses: unknown }>(
            'PodSandboxStatus', { podSandboxId: await resolvePodId(client, id), verbose: true },
          );
          docs.push({ status: res.status, info: parseInfo(res.info) });
        }
        printDocuments(docs, format);
      }),
    );

  outputOption(program.command('statsp').description('show pod resource usage (CRI ListPodSandboxStats)'))
    .argument('[pod-id]', 'pod ID or unique prefix')
    .option('--label <key=value>', 'filter by label (repeatable)', collectLabels, {})
    .option('-s, --seconds <n>', 'table: seconds between the two samples CPU % is measured over', '1')
    .action(
      withClient(async (client, args, cmd) => {
        const [id] = args as [string | undefined];
        const o = cmd.opts();
        const format = outputFormat(cmd);
        const filter: Record<string, unknown> = {};
        if (id) filter.id = await resolvePodId(client, id);
        if (Object.keys(o.label as object).length) filter.labelSelector = o.label;
        const list = async (): Promise<PodStats[]> => (await client.call<{ stats: PodStats[] }>('ListPodSandboxStats', { filter })).stats ?? [];
        const first = await list();
        if (format !== 'table') return printStructured({ stats: first }, format);
        const seconds = Number(o.seconds);
        if (!(seconds > 0)) throw new Error('--seconds must be a positive number');
        await sleep(seconds * 1000);
        const before = new Map(first.map((s) => [s.attributes.id, s.linux?.cpu]));
        const rows = (await list()).map((s) => {
          // CPU % over the interval between the two samples' own timestamps, as crictl computes it.
          const prev = before.get(s.attributes.id);
          const cpu = s.linux?.cpu;
          const dt = prev && cpu ? Number(BigInt(cpu.timestamp) - BigInt(prev.timestamp)) : 0;
          const used = prev?.usageCoreNanoSeconds && cpu?.usageCoreNanoSeconds
            ? Number(BigInt(cpu.usageCoreNanoSeconds.value) - BigInt(prev.usageCoreNanoSeconds.value)) : 0;
          const pct = dt > 0 ? ((used / dt) * 100).toFixed(2) : '-';
          const md = s.attributes.metadata;
          return [md?.name ?? '', md?.namespace ?? '', truncId(s.attributes.id, false), pct, humanBytes(s.linux?.memory?.workingSetBytes?.value)];
        });
        process.stdout.write(table(['POD', 'NAMESPACE', 'POD ID', 'CPU %', 'MEM'], rows));
      }),
    );

  program
    .command('port-forward')
    .description('forward local ports to a pod\'s ports through the runtime\'s streaming server (CRI PortForward); runs until interrupted')
    .argument('<pod-id>', 'pod ID or unique prefix')
    .argument('<ports...>', '[LOCAL_PORT:]REMOTE_PORT; an empty local port (":80") takes a free one')
    .option('--address <ip>', 'local address to listen on', '127.0.0.1')
    .action(
      withClient(async (client, args, cmd) => {
        const [id, specs] = args as [string, string[]];
        const address = cmd.opts().address as string;
        const podSandboxId = await resolvePodId(client, id);
        const ports = specs.map(parsePortSpec);
        const servers: Server[] = [];
        const connections = new Set<Socket>();
        try {
          for (const p of ports) {
            const server = createServer({ allowHalfOpen: true }, (local) => {
              connections.add(local);
              local.once('close', () => connections.delete(local));
              // One PortForward call per connection: a URL is good for one session.
              client.call<{ url: string }>('PortForward', { podSandboxId, port: [p.remote] })
                .then(({ url }) => forwardConnection(url, local, p.remote))
                .catch((err: unknown) => {
                  local.destroy();
                  process.stderr.write(`berth: port-forward ${p.remote}: ${failureMessage(err)}\n`);
                });
            });
            await new Promise<void>((resolve, reject) => {
              server.once('error', reject);
              server.listen(p.local, address, () => resolve());
            });
            servers.push(server);
            const bound = (server.address() as { port: number }).port;
            process.stdout.write(`Forwarding from ${address.includes(':') ? `[${address}]` : address}:${bound} -> ${p.remote}\n`);
          }
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
        } finally {
          for (const s of servers) s.close();
          for (const c of connections) c.destroy();
        }
      }),
    );
}
