import type { RemoveImageRequest__Output } from '../cri/generated/runtime/v1/RemoveImageRequest.js';
import type { RemoveImageResponse } from '../cri/generated/runtime/v1/RemoveImageResponse.js';
import type { Services } from './context.js';
import { imageSpec } from './container_common.js';

/** Idempotent, as CRI requires: removing an unknown image succeeds. */
export async function imageRemove(svc: Services, req: RemoveImageRequest__Output): Promise<RemoveImageResponse> {
  await svc.images.remove(imageSpec(req.image, 'image'));
  return {};
}
