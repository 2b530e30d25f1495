// Image pull benchmark: a generated ~200 MB image in 5 layers in a local
// registry, pulled cold by berthd (CRI PullImage), by containerd's CRI
// (Debian's containerd on its own root and socket) and copied by `skopeo copy`
// to a local directory — interleaved, in the same run — then warm pulls (all
// layers present). Run: `node dist/bench/image-pull.js [rounds]`.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry } from '../test/helpers/registry.js';
import { buildAndPush } from '../test/helpers/images.js';
import { startDaemon, tempDir } from '../test/helpers/daemon.js';
import { startContainerd } from '../test/helpers/containerd.js';
import { printTable, summarize, timeMs, fmt } from './lib.js';

const rounds = Number(process.argv[2] ?? 3);
const LAYER = 50 << 20;

const reg = await startRegistry();
const work = tempDir('bench-img-');
const berth = await startDaemon({ logLevel: 'info' });
const ctd = await startContainerd({ stateTmpfs: true, insecureRegistries: [reg.host] });
try {
  console.log('building and pushing the image…');
  const img = await buildAndPush(reg, 'bench/big', 'v1', { layers: [{ randomBytes: LAYER }, { randomBytes: LAYER }, { randomBytes: LAYER }, { randomBytes: LAYER }] });
  const bytes = img.layers.reduce((s, l) => s + l.size, 0);
  console.log(`image ${img.ref}: ${img.layers.length} layers, ${(bytes / 1e6).toFixed(1)} MB compressed`);

  const cold: Record<string, number[]> = { berth: [], containerd: [], skopeo: [] };
  for (let i = 0; i < rounds; i++) {
    cold.berth.push(await timeMs(() => berth.client.call('PullImage', { image: { image: img.ref } }, 600_000)));
    await berth.client.call('RemoveImage', { image: { image: img.ref } });
    cold.containerd.push(await timeMs(() => ctd.client.call('PullImage', { image: { image: img.ref } }, 600_000)));
    await ctd.client.call('RemoveImage', { image: { image: img.ref } });
    const dest = join(work, `skopeo-${i}`);
    cold.skopeo.push(await timeMs(async () => {
      const r = spawnSync('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${img.ref}`, `dir:${dest}`]);
      if (r.status !== 0) throw new Error(`skopeo failed: ${r.stderr}`);
    }));
    rmSync(dest, { recursive: true, force: true });
  }
  const rows: [string, ReturnType<typeof summarize>][] = [
    ['containerd CRI PullImage (cold)', summarize(cold.containerd)],
    ['berth CRI PullImage (cold)', summarize(cold.berth)],
    ['skopeo copy to dir: (no unpack)', summarize(cold.skopeo)],
  ];
  printTable(`cold pull of ${(bytes / 1e6).toFixed(0)} MB, ${rounds} rounds (ratio vs containerd)`, rows);
  for (const [name, s] of rows) console.log(`  ${name}: ${(bytes / 1e6 / (s.p50 / 1000)).toFixed(0)} MB/s at p50`);

  await berth.client.call('PullImage', { image: { image: img.ref } }, 600_000);
  await ctd.client.call('PullImage', { image: { image: img.ref } }, 600_000);
  const warm: Record<string, number[]> = { berth: [], containerd: [] };
  for (let i = 0; i < 20; i++) {
    warm.containerd.push(await timeMs(() => ctd.client.call('PullImage', { image: { image: img.ref } })));
    warm.berth.push(await timeMs(() => berth.client.call('PullImage', { image: { image: img.ref } })));
  }
  printTable('warm pull (all layers present), 20 rounds', [
    ['containerd CRI PullImage (warm)', summarize(warm.containerd)],
    ['berth CRI PullImage (warm)', summarize(warm.berth)],
  ]);
  console.log(`\nberth warm pull p50 ${fmt(summarize(warm.berth).p50)} ms (target < 50 ms)`);
} finally {
  await ctd.stop();
  await berth.stop();
  berth.cleanup();
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
}
