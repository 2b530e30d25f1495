// One pull: resolve the reference to a platform manifest, fetch the config,
// download and unpack missing layers in parallel, and describe the result.
// Everything written goes through the content and layer stores, which never
// expose partial data; the caller records the image only when this returns.
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { OciImageConfig } from './provider.js';
import { MANIFEST_ACCEPT, hostPlatform, parseManifest, selectPlatform, type ImageManifest } from './manifest.js';
import { PullError } from './errors/pull-error.js';
import { classifyNetworkError, type RepoClient } from './registry/client.js';
import type { ContentStore } from './store/content.js';
import type { LayerStore } from './store/layers.js';
import type { LayerRef } from './store/records.js';
import type { Reference } from './reference.js';
import type { UnpackPool } from './store/unpack-pool.js';
import { pipeline } from 'node:stream/promises';
import { mkdir, rm } from 'node:fs/promises';
import { span } from '../tracing/tracing.js';

async function emptyDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o755 });
}

/** Per-layer progress of a running pull, for `berth pull` and logs. */
export interface LayerProgress {
  digest: string;
  size: number;
  done: number;
  state: 'waiting' | 'downloading' | 'unpacking' | 'present' | 'done';
}

export interface PullDeps {
  content: ContentStore;
  layers: LayerStore;
  metrics: Metrics;
  log: Logger;
  maxConcurrent: number;
  unpacker: UnpackPool;
  /** Filled in as the pull goes. */
  progress?: LayerProgress[];
  /** Digests and diff IDs in use by running pulls: GC leaves them alone. */
  lease: Set<string>;
}

export interface PullOutcome {
  id: string;
  topDigest: string;
  manifestDigest: string;
  indexDigest?: string;
  layers: LayerRef[];
  config: OciImageConfig;
  configSize: number;
  bytesDownloaded: number;
  /** Ends the pull's GC lease; call once the image is recorded. */
  release(): void;
}

const MAX_CONFIG = 8 << 20;

/** Runs `fn` over `items` with at most `limit` at a time; the first failure stops new work. */
async function limited<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const t = items[next++];
      try {
        await fn(t);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const bad = results.find((r) => r.status === 'rejected');
  if (bad) throw (bad as PromiseRejectedResult).reason;
}

export async function pullImage(deps: PullDeps, client: RepoClient, ref: Reference, signal?: AbortSignal): Promise<PullOutcome> {
  const { content, layers, log, metrics } = deps;
  const registry = ref.registry;
  const leased: string[] = [];
  const lease = (k: string): void => {
    deps.lease.add(k);
    leased.push(k);
  };
  try {
    const top = await client.manifest(ref.digest ?? ref.tag!, MANIFEST_ACCEPT, signal);
    let parsed = parseManifest(top.body, top.contentType, registry);
    let manifestBody = top.body;
    let manifestDigest = top.digest;
    let indexDigest: string | undefined;
    if (parsed.kind === 'index') {
      indexDigest = top.digest;
      const chosen = selectPlatform(parsed, hostPlatform(), registry);
      const m = await client.manifest(chosen.digest, MANIFEST_ACCEPT, signal);
      parsed = parseManifest(m.body, m.contentType, registry);
      if (parsed.kind !== 'manifest') throw new PullError('malformed_manifest', registry, `index entry ${chosen.digest} is itself an index`);
      manifestBody = m.body;
      manifestDigest = m.digest;
    }
    const manifest: ImageManifest = parsed;
    if (manifest.config.size > MAX_CONFIG) throw new PullError('malformed_manifest', registry, `config blob of ${manifest.config.size} bytes is implausibly large`);

    for (const d of [indexDigest, manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) if (d) lease(d);
    let bytes = 0;
    const onBytes = (n: number): void => {
      bytes += n;
      metrics.imagePullBytes.inc({ registry }, n);
    };
    const fetchBlob = (digest: string, size: number): Promise<void> =>
      content.shared(digest, () =>
        client.withRetries(`blob ${digest}`, registry, signal, async () => {
          const b = await client.blob(digest, signal);
          await content.write(digest, size, b.body, registry, onBytes);
        }),
      );

    await fetchBlob(manifest.config.digest, manifest.config.size);
    let cfg: { config?: OciImageConfig; rootfs?: { diff_ids?: string[] } };
    try {
      cfg = JSON.parse((await content.read(manifest.config.digest)).toString('utf8')) as typeof cfg;
    } catch {
      throw new PullError('malformed_manifest', registry, `config blob ${manifest.config.digest} is not JSON`);
    }
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new PullError('malformed_manifest', registry, `config lists ${diffIds.length} diff IDs for ${manifest.layers.length} layers`);
    }
    diffIds.forEach(lease);

    const refs: LayerRef[] = manifest.layers.map((l, i) => ({ digest: l.digest, diffId: diffIds[i], size: l.size, mediaType: l.mediaType }));
    const missing = refs.filter((l) => !layers.has(l.diffId));
    const prog = new Map<string, LayerProgress>();
    for (const l of refs) {
      const p: LayerProgress = { digest: l.digest, size: l.size, done: 0, state: missing.includes(l) ? 'waiting' : 'present' };
      prog.set(l.digest, p);
      deps.progress?.push(p);
    }
    const total = missing.reduce((s, l) => s + l.size, 0);
    const started = Date.now();
    const progress = setInterval(() => {
      log.info({ image: `${ref.registry}/${ref.repository}`, bytes, total, seconds: Math.round((Date.now() - started) / 1000) }, 'pull in progress');
    }, 10_000);
    progress.unref();
    try {
      await limited(missing, deps.maxConcurrent, (l) =>
        layers.ensure(l.diffId, (dest) => span('image.layer', { 'layer.digest': l.digest, 'layer.size': l.size }, () =>
          client.withRetries(`layer ${l.digest}`, registry, signal, async () => {
            await emptyDir(dest);
            const job = { dest, diffId: l.diffId, registry };
            if (content.has(l.digest)) {
              await deps.unpacker.unpackFile(content.path(l.digest), job);
              return;
            }
            // Store and unpack in one pass over the download.
            const b = await client.blob(l.digest, signal);
            const p = prog.get(l.digest)!;
            p.state = 'downloading';
            p.done = 0;
            const writer = content.writer(l.digest, l.size, registry, (n) => {
              p.done += n;
              if (p.done === p.size) p.state = 'unpacking';
              onBytes(n);
            });
            const [stored, unpacked] = await Promise.allSettled([
              pipeline(b.body, writer),
              deps.unpacker.unpackStream(writer, job),
            ]);
            // The store's verdict (digest, size, truncation) explains more
            // than the unpacker's; a bad layer, more than the aborted store.
            if (stored.status === 'rejected') {
              const reason = classifyNetworkError(stored.reason);
              if (stored.reason instanceof PullError) throw stored.reason;
              if (reason !== 'other' || unpacked.status === 'fulfilled') {
                throw new PullError(reason, registry, `blob ${l.digest}: ${(stored.reason as Error).message}`, { cause: stored.reason });
              }
            }
            if (unpacked.status === 'rejected') throw unpacked.reason;
            p.state = 'done';
          })),
        ),
      );
    } finally {
      clearInterval(progress);
    }
    // Stored last, so a manifest in the store means its image was complete once.
    if (indexDigest) await content.put(indexDigest, top.body, registry);
    await content.put(manifestDigest, manifestBody, registry);
    return {
      id: manifest.config.digest,
      topDigest: top.digest,
      manifestDigest,
      indexDigest,
      layers: refs,
      config: cfg.config ?? {},
      configSize: manifest.config.size,
      bytesDownloaded: bytes,
      release: () => {
        for (const k of leased) deps.lease.delete(k);
      },
    };
  } catch (err) {
    for (const k of leased) deps.lease.delete(k);
    throw err;
  }
}
