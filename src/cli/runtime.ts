import type { Command } from 'commander';
import { withClient, outputOption } from './common.js';
import { json } from './format.js';

interface VersionResponse { version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }

export function registerRuntimeCommands(program: Command): void {
  outputOption(program.command('version').description('show the runtime\'s version (CRI Version)')).action(
    withClient(async (client, _args, cmd) => {
      const v = await client.call<VersionResponse>('Version', { version: 'v1' });
      if (cmd.opts().output === 'json') {
        process.stdout.write(json(v));
        return;
      }
      process.stdout.write(
        `Version:  ${v.version}\nRuntimeName:  ${v.runtimeName}\nRuntimeVersion:  ${v.runtimeVersion}\nRuntimeApiVersion:  ${v.runtimeApiVersion}\n`,
      );
    }),
  );

  program
    .command('info')
    .description('show the runtime\'s status and conditions (CRI Status, verbose)')
    .action(
      withClient(async (client) => {
        const res = await client.call<{ status: unknown; info: Record<string, string>; runtimeHandlers: unknown; features: unknown }>(
          'Status', { verbose: true },
        );
        // Verbose info values are JSON documents; show them as objects.
        const info: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(res.info ?? {})) {
          try {
            info[k] = JSON.parse(v);
          } catch {
            info[k] = v;
          }
        }
        process.stdout.write(json({ status: res.status, runtimeHandlers: res.runtimeHandlers, features: res.features, ...info }));
      }),
    );

  program
    .command('runtime-config')
    .description('show the runtime\'s configuration for kubelet (CRI RuntimeConfig)')
    .action(
      withClient(async (client) => {
        process.stdout.write(json(await client.call('RuntimeConfig', {})));
      }),
    );
}
