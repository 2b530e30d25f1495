import type { ListImagesRequest__Output } from '../cri/generated/runtime/v1/ListImagesRequest.js';
import type { ListImagesResponse } from '../cri/generated/runtime/v1/ListImagesResponse.js';
import type { StreamImagesRequest__Output } from '../cri/generated/runtime/v1/StreamImagesRequest.js';
import type { Services } from './context.js';
import { toCriImage } from './image_common.js';
import { imageSpec } from './container_common.js';

export async function listImages(svc: Services, req: ListImagesRequest__Output): Promise<ListImagesResponse> {
  return { images: svc.images.list(imageSpec(req.filter?.image, 'filter.image', false) || undefined).map((r) => toCriImage(svc.images, r)) };
}

/** StreamImages: the same list in chunks, so a node with many images stays under the message limit. */
export async function streamImages(svc: Services, req: StreamImagesRequest__Output, send: (m: unknown) => Promise<void>): Promise<void> {
  const all = svc.images.list(imageSpec(req.filter?.image, 'filter.image', false) || undefined);
  const CHUNK = 100;
  for (let i = 0; i < all.length; i += CHUNK) {
    await send({ images: all.slice(i, i + CHUNK).map((r) => toCriImage(svc.images, r)) });
  }
}
