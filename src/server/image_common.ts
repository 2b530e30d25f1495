// Image record → CRI Image, shared by the image RPC modules.
import type { Image } from '../cri/generated/runtime/v1/Image.js';
import type { ImageRecord } from '../image/store/records.js';
import type { ImageService } from '../image/service.js';

/** kubelet's runAsNonRoot check reads uid, or username when the user is a name. */
export function imageUser(user: string | undefined): { uid?: string; username: string } {
  const u = (user ?? '').split(':')[0];
  if (u === '') return { username: '' };
  if (/^\d+$/.test(u)) return { uid: u, username: '' };
  return { username: u };
}

export function toCriImage(images: ImageService, rec: ImageRecord): Image {
  const user = imageUser(rec.config.User);
  return {
    id: rec.id,
    repoTags: rec.repoTags,
    repoDigests: rec.repoDigests,
    size: String(rec.size),
    uid: user.uid !== undefined ? { value: user.uid } : null,
    username: user.username,
    spec: { image: rec.id, annotations: {} },
    pinned: images.isPinned(rec),
  };
}
