import type { Command } from 'commander';
import { withClient, outputOption, outputFormat, documentFormat, parseInfo, printStructured, printDocuments } from './common.js';
import { table, humanBytes, truncId } from './format.js';
import { adminSocket } from './admin.js';
import { showPullProgress } from './pull-progress.js';
import { pullAuth } from './credentials.js';

interface Image { id: string; repoTags: string[]; repoDigests: string[]; size: string; pinned: boolean }

function splitTag(t: string): [string, string] {
  const i = t.lastIndexOf(':');
  return i > t.lastIndexOf('/') ? [t.slice(0, i), t.slice(i + 1)] : [t, '<none>'];
}

export function registerImageCommands(program: Command): void {
  outputOption(program.command('images').alias('img').description('list images'))
    .option('-q, --quiet', 'only image IDs')
    .option('--no-trunc', 'show full IDs')
    .argument('[repository]', 'filter by image reference')
    .action(
      withClient(async (client, args, cmd) => {
        const [ref] = args as [string | undefined];
        const o = cmd.opts();
        const format = outputFormat(cmd);
        const res = await client.call<{ images: Image[] }>('ListImages', ref ? { filter: { image: { image: ref } } } : {});
        const images = res.images ?? [];
        if (o.quiet) return void process.stdout.write(images.map((i) => i.id + '\n').join(''));
        if (format !== 'table') return printStructured({ images }, format);
        const rows: string[][] = [];
        for (const i of images) {
          const id = truncId(i.id.replace(/^sha256:/, ''), o.trunc === false);
          const tags = i.repoTags.length ? i.repoTags : [`${i.repoDigests[0]?.split('@')[0] ?? '<none>'}:<none>`];
          for (const t of tags) {
            const [repo, tag] = splitTag(t);
            rows.push([repo, tag, id, humanBytes(i.size), i.pinned ? 'true' : 'false']);
          }
        }
        process.stdout.write(table(['IMAGE', 'TAG', 'IMAGE ID', 'SIZE', 'PINNED'], rows));
      }),
    );

  program
    .command('pull')
    .description('pull an image')
    .argument('<image>', 'image reference')
    .option('--creds <user[:password]>', 'registry credentials (no colon: an empty password)')
    .option('--auth <base64>', 'base64 of user:password')
    .option('-u, --username <user>', 'registry user; the password is asked for (or read from a piped stdin)')
    .option('--pod-config <file>', 'sandbox config the pull is for')
    .action(
      withClient(async (client, args, cmd) => {
        const [image] = args as [string];
        const auth = await pullAuth(cmd.opts());
        const bars = process.stdout.isTTY ? showPullProgress(adminSocket(cmd), image) : undefined;
        let res: { imageRef: string } | undefined;
        try {
          res = await client.call<{ imageRef: string }>('PullImage', { image: { image }, auth }, 0);
        } finally {
          await bars?.stop(res !== undefined);
        }
        process.stdout.write(`Image is up to date for ${res.imageRef}\n`);
      }),
    );

  program
    .command('rmi')
    .description('remove images')
    .argument('<image...>', 'image IDs, tags or digests')
    .action(
      withClient(async (client, args) => {
        const [images] = args as [string[]];
        for (const image of images) {
          await client.call('RemoveImage', { image: { image } });
          process.stdout.write(`Deleted: ${image}\n`);
        }
      }),
    );

  outputOption(program.command('inspecti').description('show an image\'s status (verbose)'), 'json')
    .argument('<image...>', 'image IDs or references')
    .action(
      withClient(async (client, args, cmd) => {
        const [images] = args as [string[]];
        const format = documentFormat(cmd);
        const docs: unknown[] = [];
        for (const image of images) {
          const res = await client.call<{ image: Image | null; info: Record<string, string> }>('ImageStatus', {
            image: { image },
            verbose: true,
          });
          if (!res.image) throw new Error(`no such image "${image}"`);
          docs.push({ status: res.image, info: parseInfo(res.info) });
        }
        printDocuments(docs, format);
      }),
    );

  outputOption(program.command('imagefsinfo').description('show image filesystem usage'), 'json').action(
    withClient(async (client, _args, cmd) => {
      printStructured(await client.call('ImageFsInfo', {}), documentFormat(cmd));
    }),
  );
}
