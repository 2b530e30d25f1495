// The image service: pulls, records, lookups, removal and garbage collection
// over the content store (blobs), the layer store (unpacked layers) and the
// record store (image metadata and container holds), all under
// <daemon.root>/images. Implements ImageProvider for the container service.
//
// RemoveImage of an image a container uses behaves as containerd's CRI does:
// the record and its tags go, the layers stay until the last holder releases
// them. (CRI-O refuses instead; kubelet's image GC never removes in-use
// images anyway, so the difference only shows with manual `rmi`.)
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { errorMessage, failedPrecondition, notFound } from '../util/errors.js';
import type { ImageForContainer, ImageProvider } from './provider.js';
import { pullImage, type LayerProgress, type PullDeps, type PullOutcome } from './pull.js';
import { PullError, PULL_FAULT } from './errors/pull-error.js';
import { asImageId, formatReference, parseReference, repoName, type Reference } from './reference.js';
import { RepoClient, classifyNetworkError } from './registry/client.js';
import { TokenCache, type Credentials } from './registry/auth.js';
import { Hosts } from './registry/hosts.js';
import { ContentStore } from './store/content.js';
import { LayerStore } from './store/layers.js';
import { RecordStore, type Hold, type ImageRecord } from './store/records.js';
import { diskUsage, imageStoreCache, mountPointOf, type UsageCache } from './store/usage.js';
import { UnpackPool } from './store/unpack-pool.js';
import { span } from '../tracing/tracing.js';

/** What a pull or an import stored, ready to be recorded. */
export type StoredImage = Omit<PullOutcome, 'release' | 'bytesDownloaded' | 'topDigest'>;

export interface ImageFsUsage {
  timestampMs: number;
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
}

export class ImageService implements ImageProvider {
  readonly root: string;
  readonly content: ContentStore;
  readonly layers: LayerStore;
  readonly unpacker = new UnpackPool();
  private readonly store: RecordStore;
  private readonly records = new Map<string, ImageRecord>();
  /** repo:tag and repo@digest → image ID. */
  private readonly names = new Map<string, string>();
  private readonly holds = new Map<string, Hold>();
  private readonly manifestAnnotations = new Map<string, Promise<Record<string, string>>>();
  private readonly lease = new Set<string>();
  private readonly pulls = new Map<string, Promise<ImageRecord>>();
  private readonly progress = new Map<string, { image: string; startedMs: number; layers: LayerProgress[] }>();
  private readonly hosts: Hosts;
  private readonly tokens = new TokenCache();
  private readonly pinned: Set<string>;
  /** Serializes record changes and GC. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Where the image store lives; fixed while berthd runs. */
  private fsMountpoint?: string;
  private readonly usageCache: UsageCache;

  private constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.root = join(config.daemon.root, 'images');
    this.content = new ContentStore(this.root);
    this.layers = new LayerStore(this.root);
    this.store = new RecordStore(this.root);
    this.usageCache = imageStoreCache(this.root);
    this.hosts = new Hosts({ registries: config.registries, insecureRegistries: config.image.insecure_registries });
    this.pinned = new Set(config.image.pinned.map((r) => {
      const id = asImageId(r);
      return id?.full ?? formatReference(parseReference(r));
    }));
  }

  /** Opens the store, dropping whatever a crash left half-done. */
  static async open(config: Config, log: Logger, metrics: Metrics): Promise<ImageService> {
    const s = new ImageService(config, log, metrics);
    const partial = s.content.cleanupIngest() + s.layers.cleanupTemp();
    const bad = (file: string, err: unknown): void => log.warn({ file, err: errorMessage(err) }, 'dropping unreadable image metadata');
    for (const rec of s.store.loadRecords(bad)) {
      const missing = rec.layers.find((l) => !s.layers.has(l.diffId));
      if (missing || !s.content.has(rec.id)) {
        log.warn({ image: rec.id, layer: missing?.diffId }, 'dropping image record whose content is gone');
        await s.store.delete(rec.id);
        continue;
      }
      s.index(rec);
    }
    for (const h of s.store.loadHolds(bad)) s.holds.set(h.holder, h);
    const freed = await s.gc();
    if (partial || freed) log.info({ partial, freed }, 'image store: removed leftovers of interrupted pulls');
    s.metrics.imageFsBytes.set((await diskUsage(s.root, s.usageCache)).bytes);
    return s;
  }

  async close(): Promise<void> {
    await this.hosts.close();
    await this.unpacker.close();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private index(rec: ImageRecord): void {
    // A name on two records (crash between the two writes of a tag move)
    // belongs to the newer one.
    for (const n of [...rec.repoTags, ...rec.repoDigests]) {
      const other = this.records.get(this.names.get(n) ?? '');
      if (other && other.id !== rec.id && other.updatedMs > rec.updatedMs) continue;
      this.names.set(n, rec.id);
    }
    this.records.set(rec.id, rec);
  }

  list(filter?: string): ImageRecord[] {
    if (filter) {
      const r = this.resolve(filter);
      return r ? [r] : [];
    }
    return [...this.records.values()];
  }

  /** Finds an image by ID, ID prefix, tag or digest reference. */
  resolve(ref: string): ImageRecord | undefined {
    const id = asImageId(ref);
    if (id?.full) return this.records.get(id.full);
    if (id?.prefix) {
      const hits = [...this.records.keys()].filter((k) => k.startsWith(id.prefix!));
      if (hits.length === 1) return this.records.get(hits[0]);
      if (hits.length > 1) throw failedPrecondition(`image ID prefix "${ref}" is ambiguous (${hits.length} images)`);
    }
    const r = parseReference(ref);
    if (r.digest) {
      const byDigest = this.names.get(`${repoName(r)}@${r.digest}`);
      if (byDigest) return this.records.get(byDigest);
      // name@<platform manifest digest> also names the image.
      return [...this.records.values()].find((x) => x.manifestDigest === r.digest && x.repoDigests.some((d) => d.startsWith(repoName(r) + '@')));
    }
    const byTag = this.names.get(`${repoName(r)}:${r.tag}`);
    return byTag ? this.records.get(byTag) : undefined;
  }

  isPinned(rec: ImageRecord): boolean {
    return this.pinned.has(rec.id) || rec.repoTags.some((t) => this.pinned.has(t)) || rec.repoDigests.some((d) => this.pinned.has(d));
  }

  /** Pulls `image`; concurrent pulls of the same reference share the work. */
  pull(image: string, creds: Credentials, signal?: AbortSignal): Promise<ImageRecord> {
    const ref = parseReference(image);
    const key = formatReference(ref);
    let p = this.pulls.get(key);
    if (!p) {
      const layers: LayerProgress[] = [];
      const entry = { image: key, startedMs: Date.now(), layers };
      this.progress.set(key, entry);
      p = span('image.pull', { 'image.ref': key, 'image.registry': ref.registry }, () => this.doPull(ref, creds, signal, layers)).finally(() => {
        this.pulls.delete(key);
        // Kept a moment so a client polling for progress sees the end.
        setTimeout(() => {
          if (this.progress.get(key) === entry) this.progress.delete(key);
        }, 5000).unref();
      });
      this.pulls.set(key, p);
    }
    return p;
  }

  /** Pulls in progress and their layers, for `berth pull` progress bars. */
  activePulls(): { image: string; startedMs: number; layers: LayerProgress[] }[] {
    return [...this.progress.values()];
  }

  private async doPull(ref: Reference, creds: Credentials, signal: AbortSignal | undefined, progress: LayerProgress[]): Promise<ImageRecord> {
    const registry = ref.registry;
    const started = process.hrtime.bigint();
    this.metrics.imagePullAttempts.inc({ registry });
    const cfg = this.hosts.config(registry);
    const effective: Credentials = creds.username || creds.password || creds.identityToken || creds.registryToken
      ? creds
      : { username: cfg?.username || undefined, password: cfg?.password || undefined };
    const client = new RepoClient({
      hosts: this.hosts, tokens: this.tokens, log: this.log,
      retries: this.config.image.retries, stallTimeoutMs: this.config.image.stall_timeout * 1000,
    }, registry, ref.repository, effective);
    const deps: PullDeps = {
      content: this.content, layers: this.layers, metrics: this.metrics, log: this.log,
      maxConcurrent: this.config.image.max_concurrent_downloads, lease: this.lease, unpacker: this.unpacker, progress,
    };
    try {
      let out;
      try {
        out = await pullImage(deps, client, ref, signal);
      } catch (err) {
        if (err instanceof PullError) throw err;
        const reason = classifyNetworkError(err);
        throw new PullError(reason, registry, errorMessage(err), { cause: err });
      }
      const rec = await this.serial(async () => {
        try {
          return await this.record(ref, out);
        } finally {
          out.release();
        }
      });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.imagePullSuccesses.inc({ registry });
      this.metrics.imagePullLatency.observe({ registry }, seconds);
      this.log.info({ image: formatReference(ref), id: rec.id, bytes: out.bytesDownloaded, seconds }, 'image pulled');
      return rec;
    } catch (err) {
      const reason = err instanceof PullError ? err.reason : 'other';
      this.metrics.imagePullFailures.inc({ registry, reason, fault: PULL_FAULT[reason] });
      if (err instanceof PullError) err.message = `pulling ${formatReference(ref)}: ${err.message}`;
      throw err;
    }
  }

  /** Writes the record for a pulled image and moves its names to it. */
  private record(ref: Reference, out: Awaited<ReturnType<typeof pullImage>>): Promise<ImageRecord> {
    const tag = ref.tag ? `${repoName(ref)}:${ref.tag}` : undefined;
    return this.saveRecord(out, tag ? [tag] : [], [`${repoName(ref)}@${out.topDigest}`]);
  }

  /**
   * Records an image whose blobs and layers are stored (a pull or an import),
   * adding `tags` and `digests` to it and taking the tags from other images.
   * Call inside serial().
   */
  private async saveRecord(out: StoredImage, tags: string[], digests: string[]): Promise<ImageRecord> {
    const now = Date.now();
    const prev = this.records.get(out.id);
    const rec: ImageRecord = prev
      ? { ...prev, repoTags: [...prev.repoTags], repoDigests: [...prev.repoDigests], updatedMs: now }
      : {
          id: out.id, repoTags: [], repoDigests: [],
          size: out.configSize + out.layers.reduce((s, l) => s + l.size, 0),
          manifestDigest: out.manifestDigest, indexDigest: out.indexDigest,
          layers: out.layers, config: out.config, createdMs: now, updatedMs: now,
        };
    for (const t of tags) if (!rec.repoTags.includes(t)) rec.repoTags.push(t);
    for (const d of digests) if (!rec.repoDigests.includes(d)) rec.repoDigests.push(d);
    await this.store.save(rec);
    for (const tag of tags) {
      // The tag moved: the image it named loses it (and stays, untagged).
      const old = this.names.get(tag);
      const o = old && old !== rec.id ? this.records.get(old) : undefined;
      if (o) {
        const updated = { ...o, repoTags: o.repoTags.filter((t) => t !== tag), updatedMs: now };
        await this.store.save(updated);
        this.records.set(o.id, updated);
      }
    }
    this.index(rec);
    return rec;
  }

  /** Records an imported image (see archive.ts); the keys stay leased until it is recorded. */
  adopt(out: StoredImage, tags: string[], digests: string[]): Promise<ImageRecord> {
    return this.serial(() => this.saveRecord(out, tags, digests));
  }

  /** Protects blobs and layers being stored outside a pull from GC until `release`. */
  leaseKeys(keys: string[]): () => void {
    const added = keys.filter((k) => !this.lease.has(k));
    for (const k of added) this.lease.add(k);
    return () => {
      for (const k of added) this.lease.delete(k);
    };
  }

  /** Removes an image by ID, tag or digest; unknown images are not an error. */
  async remove(ref: string): Promise<boolean> {
    return this.serial(async () => {
      const rec = this.resolve(ref);
      if (!rec) return false;
      await this.store.delete(rec.id);
      this.records.delete(rec.id);
      for (const [n, id] of this.names) if (id === rec.id) this.names.delete(n);
      const inUse = [...this.holds.values()].filter((h) => h.imageId === rec.id).length;
      this.log.info({ image: rec.id, tags: rec.repoTags, inUse }, inUse ? 'image removed; layers kept for containers using them' : 'image removed');
      await this.gcLocked();
      return true;
    });
  }

  /** Frees blobs and layers no record, hold or running pull references. */
  gc(): Promise<number> {
    return this.serial(() => this.gcLocked());
  }

  private async gcLocked(): Promise<number> {
    const t0 = process.hrtime.bigint();
    const blobs = new Set<string>(this.lease);
    const layers = new Set<string>(this.lease);
    for (const r of this.records.values()) {
      blobs.add(r.id);
      blobs.add(r.manifestDigest);
      if (r.indexDigest) blobs.add(r.indexDigest);
      for (const l of r.layers) {
        blobs.add(l.digest);
        layers.add(l.diffId);
      }
    }
    for (const h of this.holds.values()) for (const d of h.diffIds) layers.add(d);
    let freed = 0;
    for (const d of this.content.list()) {
      if (!blobs.has(d)) {
        await this.content.remove(d);
        freed++;
      }
    }
    for (const d of this.layers.list()) {
      if (!layers.has(d)) {
        await this.layers.remove(d);
        freed++;
      }
    }
    this.metrics.gcDuration.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    return freed;
  }

  async fsUsage(): Promise<ImageFsUsage> {
    const u = await diskUsage(this.root, this.usageCache);
    this.metrics.imageFsBytes.set(u.bytes);
    this.fsMountpoint ??= mountPointOf(this.root);
    return { timestampMs: Date.now(), mountpoint: this.fsMountpoint, usedBytes: u.bytes, inodesUsed: u.inodes };
  }

  // ImageProvider

  async get(ref: string): Promise<ImageForContainer | undefined> {
    const rec = this.resolve(ref);
    if (!rec) return undefined;
    return {
      id: rec.id,
      ref: rec.repoDigests[0] ?? rec.id,
      repoTags: [...rec.repoTags],
      repoDigests: [...rec.repoDigests],
      config: rec.config,
      layerDirs: rec.layers.map((l) => this.layers.path(l.diffId)),
    };
  }

  async annotations(imageId: string): Promise<Record<string, string>> {
    let got = this.manifestAnnotations.get(imageId);
    if (!got) {
      const rec = this.records.get(imageId);
      if (!rec) return {};
      // An image ID names one manifest's content for good: read once, kept.
      got = this.content.read(rec.manifestDigest)
        .then((b) => (JSON.parse(b.toString('utf8')) as { annotations?: Record<string, string> }).annotations ?? {})
        .catch(() => ({}));
      this.manifestAnnotations.set(imageId, got);
    }
    return got;
  }

  hold(imageId: string, holder: string): { persisted: Promise<void> } {
    // In memory first, outside the queue: a removal or GC queued before this
    // one (or running: a removal drops its record from memory only after its
    // file) already sees the hold. Only the file waits its turn, so creating
    // a container never waits on a disk write here.
    const rec = this.records.get(imageId);
    if (!rec) throw notFound(`image "${imageId}" not found`);
    const h: Hold = { holder, imageId, diffIds: rec.layers.map((l) => l.diffId) };
    this.holds.set(holder, h);
    return { persisted: this.serial(() => this.store.saveHold(h, (err) => this.log.warn({ holder, err: err.message }, 'flushing an image hold to disk failed'))) };
  }

  async releaseAllBut(holders: ReadonlySet<string>): Promise<void> {
    await this.serial(async () => {
      const stale = [...this.holds.keys()].filter((h) => !holders.has(h));
      if (!stale.length) return;
      for (const h of stale) {
        await this.store.deleteHold(h);
        this.holds.delete(h);
      }
      this.log.info({ holders: stale }, 'released image holds of containers that no longer exist');
      await this.gcLocked();
    });
  }

  async release(holder: string): Promise<void> {
    await this.serial(async () => {
      if (!this.holds.has(holder)) return;
      await this.store.deleteHold(holder);
      this.holds.delete(holder);
      await this.gcLocked();
    });
  }
}
