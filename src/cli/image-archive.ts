// `berth image import|export`: offline image transfer through berthd's local
// admin socket (see src/daemon/admin.ts), next to the CRI socket by default.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { adminCall, adminSocket } from './admin.js';

function action(fn: (cmd: Command, args: string[]) => Promise<void>) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    try {
      await fn(cmd, args.slice(0, -2) as string[]);
    } catch (err) {
      process.stderr.write(`berth: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  };
}

export function registerImageArchiveCommands(program: Command): void {
  const image = program.command('image').description('node-local image operations (through berthd\'s admin socket)')
    .option('--admin-socket <path>', 'berthd admin socket (default: admin.sock beside the runtime endpoint)');
  image
    .command('import')
    .description('load an OCI archive or docker-archive tarball into berthd\'s image store')
    .argument('<file>', 'archive file')
    .option('--name <repo[:tag]>', 'name for images the archive does not name fully')
    .action(action(async (cmd, [file]) => {
      const res = await adminCall(adminSocket(cmd), 'POST', '/v1/images/import', { file: resolve(file), name: cmd.opts().name as string | undefined });
      for (const i of res.images as { id: string; repoTags: string[] }[]) {
        process.stdout.write(`Imported ${i.id}${i.repoTags.length ? ` (${i.repoTags.join(', ')})` : ''}\n`);
      }
    }));
  image
    .command('export')
    .description('write an image as an OCI archive')
    .argument('<image>', 'image ID, tag or digest')
    .argument('<file>', 'archive to write')
    .action(action(async (cmd, [img, file]) => {
      const res = await adminCall(adminSocket(cmd), 'POST', '/v1/images/export', { image: img, file: resolve(file) });
      process.stdout.write(`Exported ${String(res.id)} to ${resolve(file)}\n`);
    }));
}
