import type { PullImageRequest__Output } from '../cri/generated/runtime/v1/PullImageRequest.js';
import type { PullImageResponse } from '../cri/generated/runtime/v1/PullImageResponse.js';
import type { CallContext } from '../cri/server.js';
import type { Credentials } from '../image/registry/auth.js';
import type { Services } from './context.js';
import { imageSpec, reference } from './container_common.js';
import { informationalSandboxConfig } from './sandbox_common.js';
import { bad, str, LIMITS } from './validate.js';
import { asImageId } from '../image/reference.js';
import { echo } from '../util/echo.js';

// Credentials become HTTP headers: no control characters, bounded. Their
// values are never quoted back.
const secret = (field: string, v: string): string => {
  if (v.length > LIMITS.secret || Buffer.byteLength(v) > LIMITS.secret) throw bad(field, `is longer than ${LIMITS.secret} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(v)) throw bad(field, 'contains a control character');
  return v;
};

function credentials(auth: PullImageRequest__Output['auth']): Credentials {
  if (!auth) return {};
  const c: Credentials = {};
  str('auth.server_address', auth.serverAddress, { max: LIMITS.path, printable: true });
  for (const k of ['username', 'password', 'auth', 'identityToken', 'registryToken'] as const) secret(`auth.${k.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`)}`, auth[k]);
  if (auth.username || auth.password) {
    c.username = auth.username;
    c.password = auth.password;
  } else if (auth.auth) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(auth.auth)) throw bad('auth.auth', 'is not base64');
    const plain = Buffer.from(auth.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i < 0) throw bad('auth.auth', 'must be base64 of "username:password"');
    c.username = secret('auth.auth', plain.slice(0, i));
    c.password = secret('auth.auth', plain.slice(i + 1));
  }
  if (auth.identityToken) c.identityToken = auth.identityToken;
  if (auth.registryToken) c.registryToken = auth.registryToken;
  return c;
}

export async function imagePull(svc: Services, req: PullImageRequest__Output, ctx: CallContext): Promise<PullImageResponse> {
  const ref = imageSpec(req.image, 'image');
  // An image ID names a stored image, not something a registry has.
  if (asImageId(ref)?.full) throw bad('image.image', `${echo(ref)} is an image ID; pull by reference (name:tag or name@digest)`);
  reference('image.image', ref);
  informationalSandboxConfig(req.sandboxConfig);
  const rec = await svc.images.pull(ref, credentials(req.auth), ctx.signal);
  return { imageRef: rec.id };
}
