import type { Command } from 'commander';
import type { CriClient } from './client.js';
import { withClient, outputOption, collectLabels } from './common.js';
import { readMessageFile } from './config-file.js';
import { ago, json, table, truncId } from './format.js';

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
        if (o.output === 'json') return void process.stdout.write(json({ items }));
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

  program
    .command('inspectp')
    .description('show a pod sandbox\'s status (verbose)')
    .argument('<pod-id...>', 'pod sandbox IDs or unique prefixes')
    .action(
      withClient(async (client, args) => {
        const [ids] = args as [string[]];
        for (const id of ids) {
          const res = await client.call<{ status: unknown; info: Record<string, string>; containersStatuses: unknown }>(
            'PodSandboxStatus', { podSandboxId: await resolvePodId(client, id), verbose: true },
          );
          const info: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(res.info ?? {})) {
            try {
              info[k] = JSON.parse(v);
            } catch {
              info[k] = v;
            }
          }
          process.stdout.write(json({ status: res.status, info }));
        }
      }),
    );
}
