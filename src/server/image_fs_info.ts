import type { ImageFsInfoResponse } from '../cri/generated/runtime/v1/ImageFsInfoResponse.js';
import type { Services } from './context.js';

const ns = (ms: number): string => BigInt(Math.round(ms * 1e6)).toString();

export async function imageFsInfo(svc: Services): Promise<ImageFsInfoResponse> {
  const u = await svc.images.fsUsage();
  return {
    imageFilesystems: [{
      timestamp: ns(u.timestampMs),
      fsId: { mountpoint: u.mountpoint },
      usedBytes: { value: String(u.usedBytes) },
      inodesUsed: { value: String(u.inodesUsed) },
    }],
    containerFilesystems: [],
  };
}
