import type { ImageStatusRequest__Output } from '../cri/generated/runtime/v1/ImageStatusRequest.js';
import type { ImageStatusResponse } from '../cri/generated/runtime/v1/ImageStatusResponse.js';
import type { Services } from './context.js';
import { toCriImage } from './image_common.js';
import { imageSpec } from './container_common.js';

export async function imageStatus(svc: Services, req: ImageStatusRequest__Output): Promise<ImageStatusResponse> {
  const rec = svc.images.resolve(imageSpec(req.image, 'image'));
  if (!rec) return { image: null, info: {} };
  const res: ImageStatusResponse = { image: toCriImage(svc.images, rec), info: {} };
  if (req.verbose) {
    const config = JSON.parse((await svc.images.content.read(rec.id)).toString('utf8')) as unknown;
    res.info = {
      info: JSON.stringify({
        id: rec.id,
        manifestDigest: rec.manifestDigest,
        indexDigest: rec.indexDigest,
        layers: rec.layers,
        imageSpec: config,
      }),
    };
  }
  return res;
}
