// Test images built from /bin/busybox (busybox-static), written as OCI image
// layouts with GNU tar + gzip and pushed to a test registry with skopeo.
//
//   const reg = await startRegistry();
//   const img = await pushBusybox(reg);          // `${reg.host}/test/busybox:latest`
//   img.ref        // pullable reference, e.g. '127.0.0.1:PORT/test/busybox:latest'
//   img.digest     // manifest (or index) digest: `${reg.host}/test/busybox@${img.digest}` pulls it too
//   img.configDigest, img.layers[i].{digest,diffId,size}
//
//   await buildAndPush(reg, 'test/app', 'v1', {
//     config: { User: 'app', Entrypoint: ['/bin/sh'], Cmd: ['-c', 'sleep 1000'] },
//     layers: [{ files: [
//       { path: 'etc/motd', content: 'hi\n', mode: 0o644, uid: 1000, gid: 1000 },
//       { path: 'etc/link', type: 'symlink', target: 'motd' },
//       { path: 'etc/hard', type: 'hardlink', target: 'etc/motd' }, // target must be in the same layer
//       { path: 'etc/hostname', type: 'whiteout' },                 // .wh.hostname: deletes a lower file
//       { path: 'var/www', type: 'opaque' },                         // .wh..wh..opq in var/www
//     ] }, { randomBytes: 50 << 20 }],                               // a big incompressible layer
//     platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'],     // pushes an index
//     // layers: [{ copy: { layout: other.layout, layer: other.layers[1] } }] reuses a layer of another layout
//     format: 'v2s2',                                                // Docker manifests instead of OCI
//   });
//
// The base layer (unless `base: false`) holds /bin/busybox with every applet as
// a HARD link to it (sh, sleep, id, cat, httpd, wget, nc, …), /etc/passwd and
// /etc/group with root, nobody and app (uid/gid 1000, also in group `extra`
// 2000), /tmp (1777), /root, /home/app (owned by app), /proc, /sys, /dev and
// /etc/hostname; it is byte-identical across builds (fixed mtimes), so all
// fixture images share it. With several platforms every manifest shares the layers and
// its config carries the label `berth.test.platform=<os/arch[/variant]>`, so a
// test can tell which one was chosen. buildLayout() alone writes the layout
// without pushing (for import tests: `skopeo copy oci:DIR:TAG oci-archive:F`).
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { readFileSync, createWriteStream, mkdirSync, mkdtempSync, writeFileSync, renameSync, copyFileSync, chmodSync, chownSync,
  symlinkSync, linkSync, readdirSync, rmSync, openSync, writeSync, closeSync, lutimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { TestRegistry } from './registry.js';

export type FileSpec =
  | { path: string; type?: 'file'; content?: string | Buffer; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { path: string; type: 'dir'; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { path: string; type: 'symlink'; target: string; uid?: number; gid?: number }
  | { path: string; type: 'hardlink'; target: string }
  | { path: string; type: 'whiteout' }
  | { path: string; type: 'opaque' };

/** `copy`: a layer of another built layout, byte for byte (images that share a layer, as real ones share a base). */
export type LayerSpec = { files: FileSpec[] } | { randomBytes: number } | { copy: { layout: string; layer: BuiltLayer } };

export interface ImageConfigSpec {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  StopSignal?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
}

export interface ImageSpec {
  base?: boolean;
  layers?: LayerSpec[];
  config?: ImageConfigSpec;
  /** 'os/arch[/variant]'; more than one pushes an image index. Default linux/amd64, no index. */
  platforms?: string[];
  format?: 'oci' | 'v2s2';
  /** gzip level, default 6 (1 for random layers). */
  gzipLevel?: number;
  /** Annotations of the manifest(s) (a checkpoint image's, for example). */
  annotations?: Record<string, string>;
  /** Compression of the non-base layers: gzip (default), zstd or none. */
  compression?: 'gzip' | 'zstd' | 'none';
}

export interface BuiltLayer { digest: string; diffId: string; size: number; mediaType: string }

export interface BuiltImage {
  /** The OCI layout directory and its tag. */
  layout: string;
  tag: string;
  /** Digest of what the tag points to: the manifest, or the index with several platforms. */
  digest: string;
  configDigest: string;
  /** Manifest digest of the linux/amd64 image. */
  manifestDigest: string;
  layers: BuiltLayer[];
  config: Record<string, unknown>;
  /** Set by buildAndPush. */
  ref?: string;
  cleanup(): void;
}

export const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  'app:x:1000:1000:app:/home/app:/bin/sh',
  '',
].join('\n');

export const GROUP = ['root:x:0:', 'nobody:x:65534:', 'app:x:1000:', 'extra:x:2000:app', ''].join('\n');

const MT_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const MT_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MT_OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const MT_OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const MT_OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

function sha256(b: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _enc: string, cb: () => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    this.push(chunk);
    cb();
  }
  digest(): string {
    return 'sha256:' + this.hash.digest('hex');
  }
}

function busyboxApplets(): string[] {
  return execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
}

function populateBase(stage: string): void {
  for (const d of ['bin', 'etc', 'root', 'home', 'proc', 'sys', 'dev', 'var', 'var/www']) mkdirSync(join(stage, d), { recursive: true });
  mkdirSync(join(stage, 'tmp'));
  chmodSync(join(stage, 'tmp'), 0o1777);
  chmodSync(join(stage, 'root'), 0o700);
  mkdirSync(join(stage, 'home/app'));
  chownSync(join(stage, 'home/app'), 1000, 1000);
  copyFileSync('/bin/busybox', join(stage, 'bin/busybox'));
  chmodSync(join(stage, 'bin/busybox'), 0o755);
  for (const a of busyboxApplets()) linkSync(join(stage, 'bin/busybox'), join(stage, 'bin', a));
  writeFileSync(join(stage, 'etc/passwd'), PASSWD, { mode: 0o644 });
  writeFileSync(join(stage, 'etc/group'), GROUP, { mode: 0o644 });
  writeFileSync(join(stage, 'etc/hostname'), 'busybox\n', { mode: 0o644 });
  writeFileSync(join(stage, 'var/www/index.html'), 'hello from busybox\n', { mode: 0o644 });
}

function populate(stage: string, files: FileSpec[]): void {
  for (const f of files) {
    const p = join(stage, f.path);
    mkdirSync(dirname(p), { recursive: true });
    switch (f.type) {
      case undefined:
      case 'file':
        writeFileSync(p, f.content ?? '');
        // chown clears setuid/setgid bits, so it goes first.
        chownSync(p, f.uid ?? 0, f.gid ?? 0);
        chmodSync(p, f.mode ?? 0o644);
        if (f.mtime !== undefined) lutimesSync(p, f.mtime, f.mtime);
        break;
      case 'dir':
        mkdirSync(p, { recursive: true });
        chownSync(p, f.uid ?? 0, f.gid ?? 0);
        chmodSync(p, f.mode ?? 0o755);
        break;
      case 'symlink':
        symlinkSync(f.target, p);
        break;
      case 'hardlink':
        linkSync(join(stage, f.target), p);
        break;
      case 'whiteout':
        writeFileSync(join(dirname(p), '.wh.' + p.slice(dirname(p).length + 1)), '');
        break;
      case 'opaque':
        mkdirSync(p, { recursive: true });
        writeFileSync(join(p, '.wh..wh..opq'), '');
        break;
    }
  }
  // Directory mtimes set last: creating entries above changes them.
  for (const f of files) {
    if (f.type === 'dir' && f.mtime !== undefined) lutimesSync(join(stage, f.path), f.mtime, f.mtime);
  }
}

function populateRandom(stage: string, bytes: number): void {
  mkdirSync(join(stage, 'data'));
  const fd = openSync(join(stage, 'data/random.bin'), 'w', 0o644);
  const chunk = 4 << 20;
  for (let left = bytes; left > 0; left -= chunk) writeSync(fd, randomBytes(Math.min(chunk, left)));
  closeSync(fd);
}

/** Tars `stage` (GNU tar, numeric owners, names sorted) and gzips it into the layout's blobs. */
async function writeLayer(blobs: string, stage: string, level: number, fixedMtime = false, compression: ImageSpec['compression'] = 'gzip'): Promise<BuiltLayer> {
  const entries = readdirSync(stage).sort();
  // A fixed mtime makes the base layer byte-identical across builds, so
  // images built separately share it as real images share a base.
  const mt = fixedMtime ? ['--mtime=@1704067200', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime'] : [];
  const tar = spawn('tar', ['--numeric-owner', '--xattrs', '--sort=name', ...mt, '-C', stage, '-cf', '-', ...entries], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => tar.once('close', (code) => resolve(code)));
  const raw = new Hasher();
  const gz = new Hasher();
  const tmp = join(blobs, `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  let zstd: ReturnType<typeof spawn> | undefined;
  if (compression === 'zstd') {
    zstd = spawn('zstd', ['-q', '-1', '-c'], { stdio: ['pipe', 'pipe', 'ignore'] });
    await Promise.all([pipeline(tar.stdout, raw, zstd.stdin!), pipeline(zstd.stdout!, gz, createWriteStream(tmp))]);
  } else if (compression === 'none') {
    await pipeline(tar.stdout, raw, gz, createWriteStream(tmp));
  } else {
    await pipeline(tar.stdout, raw, createGzip({ level }), gz, createWriteStream(tmp));
  }
  const code = await exited;
  if (code !== 0) throw new Error(`tar failed (${code}): ${err}`);
  const digest = gz.digest();
  renameSync(tmp, join(blobs, digest.slice(7)));
  const mediaType = compression === 'zstd' ? MT_OCI_LAYER_ZSTD : compression === 'none' ? MT_OCI_LAYER : MT_OCI_LAYER_GZIP;
  return { digest, diffId: raw.digest(), size: gz.size, mediaType };
}

function writeBlob(blobs: string, content: string): { digest: string; size: number } {
  const digest = sha256(content);
  writeFileSync(join(blobs, digest.slice(7)), content);
  return { digest, size: Buffer.byteLength(content) };
}

function parsePlatform(p: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant] = p.split('/');
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** Writes an OCI image layout under a new temp dir (or `dir`). */
export async function buildLayout(tag: string, spec: ImageSpec = {}, dir?: string): Promise<BuiltImage> {
  const layout = dir ?? mkdtempSync(join(tmpdir(), 'berth-img-'));
  const blobs = join(layout, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));

  const layers: BuiltLayer[] = [];
  const specs: (LayerSpec | { files: FileSpec[]; base: true })[] = [...(spec.base === false ? [] : [{ files: [] as FileSpec[], base: true as const }]), ...(spec.layers ?? [])];
  for (const l of specs) {
    if ('copy' in l) {
      copyFileSync(join(l.copy.layout, 'blobs/sha256', l.copy.layer.digest.slice(7)), join(blobs, l.copy.layer.digest.slice(7)));
      layers.push(l.copy.layer);
      continue;
    }
    const stage = mkdtempSync(join(tmpdir(), 'berth-stage-'));
    try {
      if ('randomBytes' in l) populateRandom(stage, l.randomBytes);
      else if ('base' in l) populateBase(stage);
      else populate(stage, l.files);
      layers.push(await writeLayer(blobs, stage, spec.gzipLevel ?? ('randomBytes' in l ? 1 : 6), 'base' in l, 'base' in l ? 'gzip' : spec.compression));
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }

  const platforms = spec.platforms ?? ['linux/amd64'];
  const manifests: { digest: string; size: number; platform: ReturnType<typeof parsePlatform> }[] = [];
  let amd64: { manifest: string; config: string; body: Record<string, unknown> } | undefined;
  for (const p of platforms) {
    const platform = parsePlatform(p);
    const labels = { ...(spec.config?.Labels ?? {}), ...(platforms.length > 1 ? { 'berth.test.platform': p } : {}) };
    const config = {
      created: '2024-01-01T00:00:00Z',
      ...platform,
      config: { ...spec.config, Labels: labels, Env: spec.config?.Env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'berth test fixture' })),
    };
    const cfg = writeBlob(blobs, JSON.stringify(config));
    const manifest = writeBlob(blobs, JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_OCI_MANIFEST,
      config: { mediaType: MT_OCI_CONFIG, digest: cfg.digest, size: cfg.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
    }));
    manifests.push({ ...manifest, platform });
    if (p === 'linux/amd64' || !amd64) amd64 = { manifest: manifest.digest, config: cfg.digest, body: config };
  }

  let top: { mediaType: string; digest: string; size: number };
  if (platforms.length > 1) {
    const index = writeBlob(blobs, JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_OCI_INDEX,
      manifests: manifests.map((m) => ({ mediaType: MT_OCI_MANIFEST, digest: m.digest, size: m.size, platform: m.platform })),
    }));
    top = { mediaType: MT_OCI_INDEX, ...index };
  } else {
    top = { mediaType: MT_OCI_MANIFEST, digest: manifests[0].digest, size: manifests[0].size };
  }
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return {
    layout, tag, digest: top.digest, configDigest: amd64!.config, manifestDigest: amd64!.manifest,
    layers, config: amd64!.body,
    cleanup: () => rmSync(layout, { recursive: true, force: true }),
  };
}

function skopeo(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('skopeo', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`skopeo ${args.join(' ')} failed (${code}): ${err}`))));
  });
}

/** Pushes a built layout to the registry as NAME:TAG; returns the pullable reference. */
export async function push(registry: TestRegistry, img: BuiltImage, name: string, tag = img.tag, format: 'oci' | 'v2s2' = 'oci'): Promise<string> {
  const ref = `${registry.host}/${name}:${tag}`;
  const args = ['copy', '--quiet', '--dest-tls-verify=false', '--preserve-digests'];
  if (format === 'v2s2') args.splice(args.indexOf('--preserve-digests'), 1, '--format', 'v2s2');
  if (img.digest !== img.manifestDigest) args.push('--all');
  if (registry.auth) args.push('--dest-creds', `${registry.auth.username}:${registry.auth.password}`);
  args.push(`oci:${img.layout}:${img.tag}`, `docker://${ref}`);
  await skopeo(args);
  return ref;
}

/** Builds an image and pushes it; the layout is removed afterwards. */
export async function buildAndPush(registry: TestRegistry, name: string, tag: string, spec: ImageSpec = {}): Promise<BuiltImage & { ref: string }> {
  const img = await buildLayout(tag, spec);
  try {
    const ref = await push(registry, img, name, tag, spec.format);
    return { ...img, ref };
  } finally {
    img.cleanup();
  }
}

/** The plain busybox image most tests need: `${registry.host}/test/busybox:latest`. */
export function pushBusybox(registry: TestRegistry, spec: ImageSpec = {}): Promise<BuiltImage & { ref: string }> {
  return buildAndPush(registry, 'test/busybox', 'latest', spec);
}

/** Writes an image as an archive with skopeo: 'oci-archive' or 'docker-archive'. */
export async function exportArchive(img: BuiltImage, file: string, kind: 'oci-archive' | 'docker-archive', name = 'test/busybox'): Promise<void> {
  const dest = kind === 'docker-archive' ? `docker-archive:${file}:${name}:${img.tag}` : `oci-archive:${file}:${img.tag}`;
  await skopeo(['copy', '--quiet', `oci:${img.layout}:${img.tag}`, dest]);
}

/**
 * A pause image for peers that need one (containerd's sandbox_image):
 * catatonit in pause mode, which sleeps until signalled and exits on SIGTERM.
 * `${registry.host}/test/pause:3.9`.
 */
export function pushPause(registry: TestRegistry): Promise<BuiltImage & { ref: string }> {
  return buildAndPush(registry, 'test/pause', '3.9', {
    base: false,
    layers: [{ files: [{ path: 'pause', content: readFileSync('/usr/bin/catatonit'), mode: 0o755 }] }],
    config: { Entrypoint: ['/pause', '-P'], User: '65535:65535' },
  });
}
