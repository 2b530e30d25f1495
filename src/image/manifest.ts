// Manifest formats Berth pulls: OCI image manifest and index, Docker v2
// schema 2 manifest and manifest list. Schema 1 is refused: it is deprecated,
// unsigned content-wise and carries no config blob.
import { arch } from 'node:process';
import { PullError } from './errors/pull-error.js';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

export const MANIFEST_ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  urls?: string[];
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageManifest {
  kind: 'manifest';
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  kind: 'index';
  manifests: Descriptor[];
}

const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

function descriptor(d: unknown, where: string, registry: string): Descriptor {
  const o = d as Record<string, unknown> | null;
  if (!o || typeof o.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(o.digest) || typeof o.size !== 'number' || o.size < 0) {
    throw new PullError('malformed_manifest', registry, `${where}: descriptor without a sha256 digest and size`);
  }
  return { mediaType: String(o.mediaType ?? ''), digest: o.digest, size: o.size, platform: o.platform as Platform | undefined };
}

/** Parses manifest bytes; `contentType` is the registry's Content-Type header. */
export function parseManifest(body: Buffer, contentType: string, registry: string): ImageManifest | ImageIndex {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new PullError('malformed_manifest', registry, 'manifest is not JSON');
  }
  const mediaType = (typeof m.mediaType === 'string' && m.mediaType) || contentType.split(';')[0].trim();
  if (m.schemaVersion === 1 || mediaType === MT.dockerSchema1 || mediaType === MT.dockerSchema1Signed) {
    throw new PullError('unsupported', registry, 'image uses Docker manifest schema 1, which Berth does not pull (deprecated; re-push it with a current client)');
  }
  if (m.schemaVersion !== 2) throw new PullError('malformed_manifest', registry, `manifest schemaVersion ${JSON.stringify(m.schemaVersion)} is not 2`);
  if (Array.isArray(m.manifests) && (mediaType === MT.ociIndex || mediaType === MT.dockerList || !m.config)) {
    return { kind: 'index', manifests: m.manifests.map((d, i) => descriptor(d, `manifests[${i}]`, registry)) };
  }
  if (!Array.isArray(m.layers) || !m.config) throw new PullError('malformed_manifest', registry, `manifest of type "${mediaType}" has no config or layers`);
  const config = descriptor(m.config, 'config', registry);
  const layers = m.layers.map((d, i) => descriptor(d, `layers[${i}]`, registry));
  for (const l of layers) {
    if (l.mediaType && !LAYER_TYPES.has(l.mediaType)) {
      throw new PullError('unsupported', registry, `layer ${l.digest} has unsupported media type "${l.mediaType}"`);
    }
  }
  return { kind: 'manifest', config, layers };
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The platform images are chosen for: this host's. */
export function hostPlatform(): Platform {
  const architecture = ARCH[arch] ?? arch;
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  if (architecture === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    return { os: 'linux', architecture, variant: `v${String(v ?? '7')}` };
  }
  return { os: 'linux', architecture };
}

/** Picks the index entry for `want`; an exact variant beats an entry without one. */
export function selectPlatform(index: ImageIndex, want: Platform, registry: string): Descriptor {
  let best: Descriptor | undefined;
  let bestScore = -1;
  for (const d of index.manifests) {
    const p = d.platform;
    if (!p || p.os !== want.os || p.architecture !== want.architecture) continue;
    // arm64 images often omit the (only) v8 variant.
    const score = p.variant === want.variant ? 2 : !p.variant ? 1 : 0;
    if (score > 0 && score > bestScore) {
      best = d;
      bestScore = score;
    }
  }
  if (!best) {
    const offered = index.manifests.map((d) => d.platform ? [d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/') : '?');
    const w = [want.os, want.architecture, want.variant].filter(Boolean).join('/');
    throw new PullError('no_platform', registry, `no manifest for platform ${w} (index offers ${offered.join(', ') || 'nothing'})`);
  }
  return best;
}
