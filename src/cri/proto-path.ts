import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the CRI v1 schema (src/cri/proto/api.proto).
 *
 * The .proto file is not copied into dist/, so it is located from the
 * compiled module (dist/src/cri/proto-path.js): three levels up is the
 * repository root.
 */
export const protoPath: string = fileURLToPath(
  new URL('../../../src/cri/proto/api.proto', import.meta.url),
);
