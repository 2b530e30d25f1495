import type { Command } from 'commander';
import { withClient, outputOption, outputFormat, documentFormat, parseInfo, printStructured } from './common.js';

interface VersionResponse { version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }

export function registerRuntimeCommands(program: Command): void {
  outputOption(program.command('version').description('show the runtime\'s version (CRI Version)')).action(
    withClient(async (client, _args, cmd) => {
      const format = outputFormat(cmd);
      const v = await client.call<VersionResponse>('Version', { version: 'v1' });
      if (format !== 'table') return printStructured(v, format);
      process.stdout.write(
        `Version:  ${v.version}\nRuntimeName:  ${v.runtimeName}\nRuntimeVersion:  ${v.runtimeVersion}\nRuntimeApiVersion:  ${v.runtimeApiVersion}\n`,
      );
    }),
  );

  outputOption(program.command('info').description('show the runtime\'s status and conditions (CRI Status, verbose)'), 'json').action(
    withClient(async (client, _args, cmd) => {
      const format = documentFormat(cmd);
      const res = await client.call<{ status: unknown; info: Record<string, string>; runtimeHandlers: unknown; features: unknown }>(
        'Status', { verbose: true },
      );
      printStructured({ status: res.status, runtimeHandlers: res.runtimeHandlers, features: res.features, ...parseInfo(res.info) }, format);
    }),
  );

  outputOption(program.command('runtime-config').description('show the runtime\'s configuration for kubelet (CRI RuntimeConfig)'), 'json').action(
    withClient(async (client, _args, cmd) => {
      printStructured(await client.call('RuntimeConfig', {}), documentFormat(cmd));
    }),
  );
}
