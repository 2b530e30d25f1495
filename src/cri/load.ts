import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from './proto-path.js';

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
