// Offline image transfer: import an OCI archive (an OCI image layout in a
// tar, as `skopeo copy … oci-archive:` writes) or a docker-archive (`docker
// save`, `skopeo copy … docker-archive:`), and export an image as an OCI
// archive. Imported content goes through the same verified content store
// and layer unpacking as pulls.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import * as tar from 'tar';
import { invalidArgument, notFound } from '../util/errors.js';
import { MT, hostPlatform, parseManifest, selectPlatform, type ImageManifest } from './manifest.js';
import { PullError } from './errors/pull-error.js';
import { parseReference, formatReference, repoName } from './reference.js';
import type { ImageService, StoredImage } from './service.js';
import type { ImageRecord } from './store/records.js';

const SOURCE = 'import';
const REF_NAME = 'org.opencontainers.image.ref.name';
const TAG_ONLY = /^[\w][\w.-]{0,127}$/;

const sha256 = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function fileDigest(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return 'sha256:' + h.digest('hex');
}

/** Stores config and layers found in `dir` and records the image. */
async function store(svc: ImageService, m: ImageManifest, blobPath: (digest: string) => string, manifest: { digest: string; body: Buffer },
  index: { digest: string; body: Buffer } | undefined, tags: string[], digests: string[]): Promise<ImageRecord> {
  const keys = [m.config.digest, manifest.digest, ...m.layers.map((l) => l.digest)];
  if (index) keys.push(index.digest);
  const release = svc.leaseKeys(keys);
  try {
    const put = async (digest: string, size: number): Promise<void> => {
      const p = blobPath(digest);
      if (!existsSync(p)) throw invalidArgument(`archive lacks blob ${digest}`);
      await svc.content.write(digest, size, createReadStream(p), SOURCE);
    };
    await put(m.config.digest, m.config.size);
    const cfg = JSON.parse((await svc.content.read(m.config.digest)).toString('utf8')) as StoredImage['config'] & { config?: StoredImage['config']; rootfs?: { diff_ids?: string[] } };
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    if (diffIds.length !== m.layers.length) throw invalidArgument(`image config lists ${diffIds.length} diff IDs for ${m.layers.length} layers`);
    const releaseLayers = svc.leaseKeys(diffIds);
    try {
      for (const [i, l] of m.layers.entries()) {
        await put(l.digest, l.size);
        await svc.layers.ensure(diffIds[i], async (dest) => {
          await svc.unpacker.unpackFile(svc.content.path(l.digest), { dest, diffId: diffIds[i], registry: SOURCE });
        });
      }
      if (index) await svc.content.put(index.digest, index.body, SOURCE);
      await svc.content.put(manifest.digest, manifest.body, SOURCE);
      return await svc.adopt({
        id: m.config.digest,
        manifestDigest: manifest.digest,
        indexDigest: index?.digest,
        layers: m.layers.map((l, i) => ({ digest: l.digest, diffId: diffIds[i], size: l.size, mediaType: l.mediaType })),
        config: cfg.config ?? {},
        configSize: m.config.size,
      }, tags, digests);
    } finally {
      releaseLayers();
    }
  } finally {
    release();
  }
}

/** Tags for an index entry's ref name: a full reference, or a tag under `name`. */
function namesFor(refName: string | undefined, name: string | undefined, digest: string): { tags: string[]; digests: string[] } {
  let ref;
  if (refName && !TAG_ONLY.test(refName)) ref = parseReference(refName);
  else if (name) ref = parseReference(refName ? `${name}:${refName}` : name);
  if (!ref) return { tags: [], digests: [] };
  return { tags: ref.tag ? [`${repoName(ref)}:${ref.tag}`] : [], digests: [`${repoName(ref)}@${digest}`] };
}

async function importOci(svc: ImageService, dir: string, name?: string): Promise<ImageRecord[]> {
  const blobPath = (d: string): string => join(dir, 'blobs', 'sha256', d.slice(7));
  const readBlob = async (d: string): Promise<Buffer> => {
    const body = await readFile(blobPath(d)).catch(() => {
      throw invalidArgument(`archive lacks blob ${d}`);
    });
    if (sha256(body) !== d) throw new PullError('digest_mismatch', SOURCE, `archive blob ${d} does not match its digest`);
    return body;
  };
  const idx = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: { digest: string; annotations?: Record<string, string> }[] };
  const out: ImageRecord[] = [];
  for (const entry of idx.manifests ?? []) {
    const body = await readBlob(entry.digest);
    let parsed = parseManifest(body, '', SOURCE);
    let manifest = { digest: entry.digest, body };
    let index: typeof manifest | undefined;
    if (parsed.kind === 'index') {
      index = manifest;
      const chosen = selectPlatform(parsed, hostPlatform(), SOURCE);
      manifest = { digest: chosen.digest, body: await readBlob(chosen.digest) };
      parsed = parseManifest(manifest.body, '', SOURCE);
      if (parsed.kind !== 'manifest') throw invalidArgument(`index entry ${chosen.digest} is itself an index`);
    }
    const names = namesFor(entry.annotations?.[REF_NAME], name, entry.digest);
    out.push(await store(svc, parsed, blobPath, manifest, index, names.tags, names.digests));
  }
  return out;
}

async function importDocker(svc: ImageService, dir: string, name?: string): Promise<ImageRecord[]> {
  const entries = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { Config: string; RepoTags?: string[] | null; Layers: string[] }[];
  const out: ImageRecord[] = [];
  const paths = new Map<string, string>();
  for (const e of entries) {
    const cfgBody = await readFile(join(dir, e.Config));
    const cfgDigest = sha256(cfgBody);
    paths.set(cfgDigest, join(dir, e.Config));
    const layers = [];
    for (const l of e.Layers) {
      const p = join(dir, l);
      const digest = await fileDigest(p);
      paths.set(digest, p);
      layers.push({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest, size: (await stat(p)).size });
    }
    const m: ImageManifest = { kind: 'manifest', config: { mediaType: MT.dockerConfig, digest: cfgDigest, size: cfgBody.length }, layers };
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.dockerManifest, config: m.config, layers }));
    const tags = (e.RepoTags ?? []).map((t) => formatReference(parseReference(t)));
    if (!tags.length && name) tags.push(formatReference(parseReference(name)));
    out.push(await store(svc, m, (d) => paths.get(d) ?? '', { digest: sha256(body), body }, undefined, tags, []));
  }
  return out;
}

/** Imports every image of an OCI or docker archive at `file`. */
export async function importArchive(svc: ImageService, file: string, name?: string): Promise<ImageRecord[]> {
  if (!existsSync(file)) throw invalidArgument(`archive ${file} does not exist`);
  const tmp = join(svc.content.ingestDir, `import-${randomBytes(6).toString('hex')}`);
  await mkdir(tmp, { mode: 0o700 });
  try {
    // node-tar refuses absolute and `..` members by default.
    await tar.x({ file, cwd: tmp, strict: true }).catch((err: Error) => {
      throw invalidArgument(`archive ${file} is not a readable tar: ${err.message}`);
    });
    if (existsSync(join(tmp, 'oci-layout')) && existsSync(join(tmp, 'index.json'))) return await importOci(svc, tmp, name);
    if (existsSync(join(tmp, 'manifest.json'))) return await importDocker(svc, tmp, name);
    throw invalidArgument(`archive ${file} is neither an OCI image layout nor a docker-archive`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Writes `image` to `file` as an OCI archive (tar of an OCI image layout); atomic. */
export async function exportArchive(svc: ImageService, image: string, file: string): Promise<ImageRecord> {
  const rec = svc.resolve(image);
  if (!rec) throw notFound(`image "${image}" not found`);
  const tmp = join(svc.content.ingestDir, `export-${randomBytes(6).toString('hex')}`);
  const blobs = join(tmp, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const part = `${file}.part-${randomBytes(4).toString('hex')}`;
  try {
    const top = rec.indexDigest ?? rec.manifestDigest;
    const digests = [rec.id, rec.manifestDigest, ...rec.layers.map((l) => l.digest)];
    if (rec.indexDigest) digests.push(rec.indexDigest);
    for (const d of new Set(digests)) {
      if (!svc.content.has(d)) throw notFound(`blob ${d} of image ${rec.id} is not in the store`);
      // Hard links: no copy of layer data; the tar reads the store's files.
      await link(svc.content.path(d), join(blobs, d.slice(7)));
    }
    const topBody = await svc.content.read(top);
    const mediaType = (JSON.parse(topBody.toString('utf8')) as { mediaType?: string }).mediaType ?? MT.ociManifest;
    const annotations = rec.repoTags[0] ? { [REF_NAME]: rec.repoTags[0] } : undefined;
    await writeFile(join(tmp, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(tmp, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType, digest: top, size: topBody.length, annotations }] }));
    await pipeline(tar.c({ cwd: tmp, portable: true }, ['oci-layout', 'index.json', 'blobs']), createWriteStream(part));
    await rename(part, file);
    return rec;
  } finally {
    await rm(part, { force: true });
    await rm(tmp, { recursive: true, force: true });
  }
}
