import type { ReopenContainerLogRequest__Output } from '../cri/generated/runtime/v1/ReopenContainerLogRequest.js';
import type { ReopenContainerLogResponse } from '../cri/generated/runtime/v1/ReopenContainerLogResponse.js';
import type { Services } from './context.js';
import { id } from './validate.js';

export async function reopenContainerLog(svc: Services, req: ReopenContainerLogRequest__Output): Promise<ReopenContainerLogResponse> {
  await svc.containers.reopenLog(id('container_id', req.containerId));
  return {};
}
