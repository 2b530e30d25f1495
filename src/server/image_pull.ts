import type { PullImageRequest__Output } from '../cri/generated/runtime/v1/PullImageRequest.js';
import type { PullImageResponse } from '../cri/generated/runtime/v1/PullImageResponse.js';
import type { CallContext } from '../cri/server.js';
import type { Credentials } from '../image/registry/auth.js';
import { invalidArgument } from '../util/errors.js';
import type { Services } from './context.js';
import { requireImageRef } from './image_common.js';

function credentials(auth: PullImageRequest__Output['auth']): Credentials {
  if (!auth) return {};
  const c: Credentials = {};
  if (auth.username || auth.password) {
    c.username = auth.username;
    c.password = auth.password;
  } else if (auth.auth) {
    const plain = Buffer.from(auth.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i < 0) throw invalidArgument('auth.auth must be base64 of "username:password"');
    c.username = plain.slice(0, i);
    c.password = plain.slice(i + 1);
  }
  if (auth.identityToken) c.identityToken = auth.identityToken;
  if (auth.registryToken) c.registryToken = auth.registryToken;
  return c;
}

export async function imagePull(svc: Services, req: PullImageRequest__Output, ctx: CallContext): Promise<PullImageResponse> {
  const ref = requireImageRef(req.image);
  const rec = await svc.images.pull(ref, credentials(req.auth), ctx.signal);
  return { imageRef: rec.id };
}
