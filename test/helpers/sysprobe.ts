// Builds test/helpers/sysprobe.c into a static binary a test can mount into
// any container (gcc and libc6-dev come with scripts/install-deps.sh).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './daemon.js';

/** Compiles the probe into `dir`/sysprobe; returns the directory, to be mounted read-only. */
export function buildSysprobe(dir: string): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('gcc', ['-static', '-O2', '-Wall', '-Werror', '-o', join(dir, 'sysprobe'), join(REPO_ROOT, 'test/helpers/sysprobe.c')]);
  return dir;
}

/** Parses the probe's "<name> <errno>" lines. */
export function probeResults(stdout: string): Record<string, number> {
  return Object.fromEntries(stdout.trim().split('\n').map((l) => {
    const [name, errno] = l.split(' ');
    return [name!, Number(errno)];
  }));
}
