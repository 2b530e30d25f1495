import type { VersionRequest__Output } from '../cri/generated/runtime/v1/VersionRequest.js';
import type { VersionResponse } from '../cri/generated/runtime/v1/VersionResponse.js';
import type { Services } from './context.js';
import { str } from './validate.js';

// The version of the CRI wire API kubelet negotiates against.
const KUBE_API_VERSION = '0.1.0';

export async function version(svc: Services, req: VersionRequest__Output): Promise<VersionResponse> {
  // The client's API version; any is answered with ours.
  str('version', req.version, { printable: true });
  return {
    version: KUBE_API_VERSION,
    runtimeName: 'berth',
    runtimeVersion: svc.version,
    runtimeApiVersion: 'v1',
  };
}
