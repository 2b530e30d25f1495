// The real CRI clients, crictl and critest (kubernetes-sigs/cri-tools), for
// the conformance suite. They are not packaged for Debian and never part of
// this repository: a developer or CI machine builds them outside the tree
// and points the suite at them:
//
//   CRITEST=/path/critest[:/other/critest]   each is run
//   CRICTL=/path/crictl
//   CRI_TOOLS_DIR=/usr/local/lib/cri-tools   every <version>/critest and
//                                            <version>/crictl below it (the
//                                            default when it exists)
//
// The stand-in images critest pulls come from the shared kit
// (`../shared/cri-tools` beside the repository, or BERTH_CRITEST_IMAGES).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from './daemon.js';

export interface CriTool {
  path: string;
  version: string;
}

const DEFAULT_DIR = '/usr/local/lib/cri-tools';

function versionOf(path: string, kind: 'critest' | 'crictl'): string {
  try {
    const out = execFileSync(path, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return /version:?\s*v?([0-9][^\s]*)/.exec(out)?.[1] ?? 'unknown';
  } catch {
    throw new Error(`${kind} at ${path} does not run (${kind} --version failed)`);
  }
}

const byVersion = (a: CriTool, b: CriTool): number => a.version.localeCompare(b.version, undefined, { numeric: true });

function fromDir(dir: string, name: 'critest' | 'crictl'): CriTool[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, name)))
    .map((e) => ({ path: join(dir, e.name, name), version: versionOf(join(dir, e.name, name), name) }))
    .sort(byVersion);
}

/** critest binaries to run, oldest first; empty with the reason when none is found. */
export function findCritests(): { tools: CriTool[]; why: string } {
  if (process.env.CRITEST) {
    const tools = process.env.CRITEST.split(':').filter(Boolean).map((p) => ({ path: p, version: versionOf(p, 'critest') })).sort(byVersion);
    return { tools, why: '' };
  }
  const dir = process.env.CRI_TOOLS_DIR ?? DEFAULT_DIR;
  const tools = fromDir(dir, 'critest');
  return { tools, why: tools.length ? '' : `no critest: set CRITEST or CRI_TOOLS_DIR (nothing in ${dir}); build it from kubernetes-sigs/cri-tools outside the tree` };
}

/** The crictl to drive a session with: CRICTL, else the oldest in the directory (kubelet-era grpc-go). */
export function findCrictl(): { tool?: CriTool; why: string } {
  if (process.env.CRICTL) return { tool: { path: process.env.CRICTL, version: versionOf(process.env.CRICTL, 'crictl') }, why: '' };
  const dir = process.env.CRI_TOOLS_DIR ?? DEFAULT_DIR;
  const tool = fromDir(dir, 'crictl')[0];
  return { tool, why: tool ? '' : `no crictl: set CRICTL or CRI_TOOLS_DIR (nothing in ${dir})` };
}

/** The shared kit of stand-in images (OCI layout and push script). */
export function findImageKit(): { dir?: string; why: string } {
  const candidates = [process.env.BERTH_CRITEST_IMAGES, resolve(REPO_ROOT, '../shared/cri-tools'), '/work/shared/cri-tools'].filter((d): d is string => !!d);
  const dir = candidates.find((d) => existsSync(join(d, 'push-images.sh')) && existsSync(join(d, 'critest-images.oci.tar.xz')));
  return { dir, why: dir ? '' : `no stand-in images for critest (looked in ${candidates.join(', ')}; set BERTH_CRITEST_IMAGES)` };
}

/** Pushes the stand-ins into a registry at host:port. */
export function pushImages(kitDir: string, host: string): void {
  execFileSync('bash', [join(kitDir, 'push-images.sh'), host], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}

/** The registries critest's images name; each must resolve to the local registry alone. */
export const CRITEST_REGISTRIES = ['registry.k8s.io', 'gcr.io', 'k8s.gcr.io', 'docker.io'];

/** The spec that pins a digest whose bytes the kit cannot reproduce: fails on every runtime here. */
export const KNOWN_KIT_FAILURE = 'public image with digest should be pulled and removed';

export interface CritestResult {
  ran: number;
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
  seconds: number;
  output: string;
}

/** Runs critest to its end against one endpoint, with its own TMPDIR. */
export function runCritest(critest: string, endpoint: string, tmpdir: string): Promise<CritestResult> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const p = spawn(critest, ['--runtime-endpoint', endpoint, '--image-endpoint', endpoint, '--ginkgo.no-color'], {
      env: { ...process.env, TMPDIR: tmpdir }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    p.stdout.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr.on('data', (d: Buffer) => (output += d.toString()));
    p.on('error', reject);
    p.on('exit', () => {
      const seconds = (performance.now() - started) / 1000;
      const ran = Number(/Ran (\d+) of \d+ Specs/.exec(output)?.[1] ?? 0);
      const m = /(\d+) Passed \| (\d+) Failed \| \d+ Pending \| (\d+) Skipped/.exec(output);
      const failures = [...output.matchAll(/^\s*\[FAIL\] (.*)$/gm)].map((x) => x[1]!.trim());
      resolvePromise({
        ran, passed: Number(m?.[1] ?? 0), failed: Number(m?.[2] ?? 0), skipped: Number(m?.[3] ?? 0),
        failures: [...new Set(failures)], seconds, output,
      });
    });
  });
}

/** IDs of the host's SysV shared memory segments (critest's HostIpc specs leave theirs). */
export function shmSegments(): Set<string> {
  const rows = readFileSync('/proc/sysvipc/shm', 'utf8').trim().split('\n').slice(1);
  return new Set(rows.map((r) => r.trim().split(/\s+/)[1]!).filter(Boolean));
}

/** Removes the segments made since `before`, and only those. */
export function removeNewShm(before: Set<string>): void {
  for (const id of shmSegments()) {
    if (before.has(id)) continue;
    try {
      execFileSync('ipcrm', ['-m', id], { stdio: 'ignore' });
    } catch {
      // gone meanwhile
    }
  }
}
