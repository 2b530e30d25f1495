import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { protoPath } from './proto-path.js';

// Responses encoded straight from the handler's objects. proto-loader's
// serializer first copies a response into message instances (fromObject),
// which for a stats list of 110 pods was as costly as the encoding and made
// most of the garbage of the call. That copy is only needed to turn enum
// names into numbers; these messages have no enum anywhere in them, and
// their objects are built with the generated types in server/stats_common.ts.
const DIRECT_ENCODE = new Set(['ListPodSandboxStats', 'PodSandboxStats', 'StreamPodSandboxStats', 'ListContainerStats', 'ContainerStats', 'StreamContainerStats']);

// Options fixed here are part of the edge contract: int64 as decimal strings
// (nanosecond timestamps overflow doubles), enums as names, defaults filled in.
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export interface CriDefinitions {
  runtimeService: grpc.ServiceDefinition;
  imageService: grpc.ServiceDefinition;
  RuntimeServiceClient: grpc.ServiceClientConstructor;
  ImageServiceClient: grpc.ServiceClientConstructor;
}

let cached: CriDefinitions | undefined;

export function loadCri(): CriDefinitions {
  if (cached) return cached;
  const def = protoLoader.loadSync(protoPath, LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor; ImageService: grpc.ServiceClientConstructor } };
  };
  const { RuntimeService, ImageService } = pkg.runtime.v1;
  cached = {
    runtimeService: RuntimeService.service,
    imageService: ImageService.service,
    RuntimeServiceClient: RuntimeService,
    ImageServiceClient: ImageService,
  };
  return cached;
}

/** Every message type `t` holds, itself included. */
function reachable(t: protobuf.Type, out = new Set<protobuf.Type>()): Set<protobuf.Type> {
  if (out.has(t)) return out;
  out.add(t);
  for (const f of t.fieldsArray) if (f.resolvedType instanceof protobuf.Type) reachable(f.resolvedType, out);
  return out;
}

let served: grpc.ServiceDefinition | undefined;

/**
 * The RuntimeService as berthd serves it: loadCri()'s, with the stats
 * responses encoded directly. Only the server pays for it (about 60 ms at
 * start: the schema loaded by protobufjs, the encoders generated); clients
 * never encode a response.
 */
export function servedRuntimeService(): grpc.ServiceDefinition {
  served ??= encodeDirectly(loadCri().runtimeService, 'runtime.v1.RuntimeService');
  return served;
}

/** A copy of `service` whose DIRECT_ENCODE responses are encoded without proto-loader's copy. */
function encodeDirectly(service: grpc.ServiceDefinition, serviceName: string): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<object, object>> = { ...service };
  const root = protobuf.loadSync(protoPath);
  root.resolveAll();
  const methods = root.lookupService(serviceName).methods;
  for (const name of DIRECT_ENCODE) {
    const type = methods[name]?.resolvedResponseType;
    const def = service[name];
    if (!type || !def) continue;
    const types = reachable(type);
    // A schema change that brings an enum in falls back to proto-loader's serializer.
    if ([...types].some((t) => t.fieldsArray.some((f) => f.resolvedType instanceof protobuf.Enum))) continue;
    // protobufjs generates a type's encoder on its first use: 80 ms of the
    // first stats call at 110 pods, so it is done now.
    for (const t of types) t.setup();
    out[name] = {
      ...def,
      responseSerialize: (v: object) => {
        const bytes = type.encode(v).finish();
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      },
    };
  }
  return out;
}
