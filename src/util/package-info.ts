import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Compiled code runs from dist/src/util; package.json sits at the repository root.
const pkgPath = fileURLToPath(new URL('../../../package.json', import.meta.url));

export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
