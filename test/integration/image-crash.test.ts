// berthd killed with SIGKILL in the middle of a pull restarts clean: no
// broken image listed, partial downloads and unpacks removed, and the next
// pull succeeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRegistry } from '../helpers/registry.js';
import { buildAndPush } from '../helpers/images.js';
import { startDaemon } from '../helpers/daemon.js';

test('SIGKILL mid-pull, then restart: store clean and the pull succeeds', async () => {
  const reg = await startRegistry();
  const img = await buildAndPush(reg, 'test/big', 'v1', { layers: [{ randomBytes: 64 << 20 }, { randomBytes: 16 << 20 }] });
  // One download at a time: the kill lands while a big blob is half written.
  let d = await startDaemon({ toml: '[image]\nmax_concurrent_downloads = 1\n' });
  const dir = d.dir;
  const ingest = join(d.root, 'images/ingest');
  try {
    const pulling = d.client.call('PullImage', { image: { image: img.ref } }).catch((e: Error) => e);
    // Kill early in the 64 MiB blob, so the rest of its download (tens of
    // milliseconds even on loopback) cannot finish before the kill lands.
    const big = img.layers.find((l) => l.size > 32 << 20)!.digest.slice(7);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const partial = existsSync(ingest) ? readdirSync(ingest).filter((f) => f.startsWith(big)) : [];
      const size = partial.length ? (statSync(join(ingest, partial[0]!), { throwIfNoEntry: false })?.size ?? 0) : 0;
      if (size > 1 << 20 && size < 32 << 20) break;
      assert.ok(Date.now() < deadline, 'no partial download of the big layer seen');
      await sleep(2);
    }
    await d.kill();
    assert.ok(await pulling instanceof Error);
    assert.ok(readdirSync(ingest).length > 0, 'the kill left a partial blob');

    d = await startDaemon({ dir });
    assert.deepEqual(readdirSync(ingest), []);
    assert.deepEqual(readdirSync(join(d.root, 'images/layers')), []);
    assert.deepEqual(readdirSync(join(d.root, 'images/blobs/sha256')), [], 'blobs of the unfinished pull are released');
    const listed = await d.client.call<{ images: unknown[] }>('ListImages', {});
    assert.deepEqual(listed.images, []);
    const res = await d.client.call<{ imageRef: string }>('PullImage', { image: { image: img.ref } });
    assert.equal(res.imageRef, img.configDigest);
    for (const l of img.layers) assert.ok(existsSync(join(d.root, 'images/layers', l.diffId.slice(7))));
    assert.match(await d.logsMatching(/removed leftovers of interrupted pulls/), /removed leftovers of interrupted pulls/);
  } finally {
    await d.stop();
    d.cleanup();
    await reg.stop();
  }
});
