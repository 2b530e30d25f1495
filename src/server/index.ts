// The routing table from CRI method names to the operations in this folder.
// A method missing here answers UNIMPLEMENTED at the edge (src/cri/server.ts).
import type { HandlerTable, UnaryHandler, StreamHandler, CallContext } from '../cri/server.js';
import type { Services } from './context.js';
import { version } from './version.js';
import { status } from './status.js';
import { runtimeConfig } from './runtime_config.js';
import { updateRuntimeConfig } from './update_runtime_config.js';
import { imagePull } from './image_pull.js';
import { listImages, streamImages } from './image_list.js';
import { imageStatus } from './image_status.js';
import { imageRemove } from './image_remove.js';
import { imageFsInfo } from './image_fs_info.js';

type Unary = (svc: Services, req: never, ctx: CallContext) => Promise<unknown>;
type Stream = (svc: Services, req: never, send: (m: unknown) => Promise<void>, ctx: CallContext) => Promise<void>;

const UNARY: Record<string, Unary> = {
  Version: version,
  Status: status,
  RuntimeConfig: runtimeConfig,
  UpdateRuntimeConfig: updateRuntimeConfig,
  PullImage: imagePull,
  ListImages: listImages,
  ImageStatus: imageStatus,
  RemoveImage: imageRemove,
  ImageFsInfo: imageFsInfo,
};

const STREAM: Record<string, Stream> = {
  StreamImages: streamImages,
};

export function buildHandlers(svc: Services): HandlerTable {
  const unary: Record<string, UnaryHandler> = {};
  for (const [name, fn] of Object.entries(UNARY)) unary[name] = (req, ctx) => fn(svc, req, ctx);
  const stream: Record<string, StreamHandler> = {};
  for (const [name, fn] of Object.entries(STREAM)) stream[name] = (req, send, ctx) => fn(svc, req, send, ctx);
  return { unary, stream };
}
