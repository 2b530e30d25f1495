// Image volumes (Kubernetes ImageVolume, KEP-4639): a mount whose source is
// an image. kubelet pulls the image itself, with the pod's pull secrets,
// and names it in Mount.image by the reference PullImage answered, so here
// it is only looked up: an image not present is NOT_FOUND, never pulled
// (the request carries no credentials). Its layers are mounted read-only,
// an overlay with no upper directory, under the container's bundle, and
// bind-mounted (read-only, or a sub-path of it) at the container path. The
// image is held for the container under a holder of its own, so RemoveImage
// and garbage collection keep the layers until RemoveContainer.
import { mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join, normalize } from 'node:path';
import type { ImageForContainer, ImageProvider } from '../image/provider.js';
import type { MountRequest } from './types.js';
import { invalidArgument, notFound } from '../util/errors.js';
import { mount, unmountAll } from '../util/mount.js';

export interface ImageVolume {
  /** Index in config.mounts. */
  mount: number;
  imageId: string;
  /** Holder name of the image hold: the container's ID and the mount's index. */
  holder: string;
}

export function volumeHolder(containerId: string, mountIndex: number): string {
  return `${containerId}+volume${mountIndex}`;
}

function volumesDir(bundle: string): string {
  return join(bundle, 'volumes');
}

function volumeDir(bundle: string, index: number): string {
  return join(volumesDir(bundle), String(index));
}

/** The images of a container's image mounts, looked up; NOT_FOUND names the mount. */
export async function resolveImageVolumes(images: ImageProvider, containerId: string, mounts: MountRequest[]): Promise<{ volume: ImageVolume; image: ImageForContainer }[]> {
  const out: { volume: ImageVolume; image: ImageForContainer }[] = [];
  for (const [i, m] of mounts.entries()) {
    if (!m.image) continue;
    const field = `config.mounts[${i}]`;
    if (!m.containerPath.startsWith('/')) throw invalidArgument(`${field}.container_path "${m.containerPath}" must be absolute`);
    if (m.hostPath) throw invalidArgument(`${field}: host_path and image are both set`);
    const sub = m.imageSubPath ?? '';
    if (sub && (sub.startsWith('/') || normalize(sub).split('/').includes('..'))) {
      throw invalidArgument(`${field}.image_sub_path "${sub}" must be a path inside the image`);
    }
    const image = await images.get(m.image);
    if (!image) throw notFound(`${field}.image: image "${m.image}" not found; kubelet pulls image volumes before CreateContainer`);
    out.push({ volume: { mount: i, imageId: image.id, holder: volumeHolder(containerId, i) }, image });
  }
  return out;
}

/**
 * Mounts one image volume under the bundle and returns the bind source for
 * the spec: the volume's root or its sub-path, which must exist in the
 * image and stay inside it once links are followed.
 */
export async function mountImageVolume(bundle: string, index: number, layerDirs: readonly string[], subPath: string, field: string): Promise<string> {
  const target = volumeDir(bundle, index);
  mkdirSync(target, { recursive: true });
  // Overlay wants two lower layers when it has no upper: an empty one
  // stands in for the second of a single-layer image.
  const lower = [...layerDirs].reverse();
  if (lower.length < 2) {
    const empty = join(volumesDir(bundle), '.empty');
    mkdirSync(empty, { recursive: true });
    lower.push(empty);
  }
  if (statSync(target).dev === statSync(bundle).dev) await mount('overlay', target, 'overlay', 0, `lowerdir=${lower.join(':')}`);
  if (!subPath) return target;
  let source: string;
  try {
    source = realpathSync(join(target, subPath));
  } catch {
    throw notFound(`${field}.image_sub_path "${subPath}" does not exist in the image`);
  }
  if (source !== target && !source.startsWith(`${target}/`)) throw invalidArgument(`${field}.image_sub_path "${subPath}" leads out of the image`);
  return source;
}

/** Unmounts every image volume of a bundle (before the bundle's files go). */
export async function unmountImageVolumes(bundle: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(volumesDir(bundle)).filter((n) => /^\d+$/.test(n));
  } catch {
    return;
  }
  await unmountAll(names.map((n) => volumeDir(bundle, Number(n))));
}
