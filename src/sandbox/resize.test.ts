// The pod-resize arithmetic, and the cgroup v2 writes against a fake v2
// tree (this host's controllers are on v1; the v1 writes are checked on the
// host's own files in test/integration/pod-resize.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podLimits, resizePodCgroup } from './resize.js';
import { sharesToWeight } from '../cgroup/limits.js';
import { BerthError } from '../util/errors.js';

test('pod limits: resources plus overhead; unset limits mean none; overhead quota scaled to the period', () => {
  assert.deepEqual(podLimits({
    overhead: { cpuShares: 100, cpuQuota: 10_000, cpuPeriod: 50_000, memoryLimit: 64 << 20 },
    resources: { cpuShares: 1024, cpuQuota: 150_000, cpuPeriod: 100_000, memoryLimit: 256 << 20, hugepageLimits: [{ pageSize: '2MB', limit: 4 << 20 }] },
  }), {
    cpuShares: 1124, cpuPeriod: 100_000, cpuQuota: 170_000, memoryLimit: 320 << 20, memorySwapLimit: undefined,
    cpusetCpus: undefined, cpusetMems: undefined, unified: {}, hugepageLimits: [{ pageSize: '2MB', limit: 4 << 20 }],
  });
  const none = podLimits({ resources: { cpuShares: 2 } });
  assert.equal(none.cpuQuota, -1);
  assert.equal(none.memoryLimit, -1);
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(262144), 10000);
});

function fakeV2(): { base: string; pod: string; file: (n: string) => string } {
  const base = mkdtempSync(join(tmpdir(), 'berth-v2fake-'));
  const pod = join(base, 'kubepods', 'pod1');
  mkdirSync(pod, { recursive: true });
  const files: Record<string, string> = {
    'cpu.weight': '100', 'cpu.max': 'max 100000', 'memory.max': 'max', 'memory.swap.max': 'max',
    'cpuset.cpus': '', 'cpuset.mems': '', 'hugetlb.2MB.max': 'max', 'memory.high': 'max',
  };
  for (const [n, v] of Object.entries(files)) writeFileSync(join(pod, n), `${v}\n`);
  writeFileSync(join(base, 'cgroup.controllers'), 'cpu memory cpuset hugetlb\n');
  writeFileSync(join(base, 'cgroup.subtree_control'), 'memory\n');
  return { base, pod: '/kubepods/pod1', file: (n) => readFileSync(join(pod, n), 'utf8').trim() };
}

test('cgroup v2: weight, cpu.max, memory.max, swap counted alone, cpuset, hugetlb, unified files', () => {
  const { base, pod, file } = fakeV2();
  try {
    const host = { version: 'v2' as const, base, swapAccounted: false };
    resizePodCgroup(host, pod, {
      resources: {
        cpuShares: 1024, cpuQuota: 50_000, cpuPeriod: 100_000, memoryLimit: 256 << 20, memorySwapLimit: 384 << 20,
        cpusetCpus: '0', cpusetMems: '0', hugepageLimits: [{ pageSize: '2MB', limit: 8 << 20 }], unified: { 'memory.high': String(200 << 20) },
      },
    });
    assert.equal(file('cpu.weight'), '39');
    assert.equal(file('cpu.max'), '50000 100000');
    assert.equal(file('memory.max'), String(256 << 20));
    assert.equal(file('memory.swap.max'), String(128 << 20));
    assert.equal(file('cpuset.cpus'), '0');
    assert.equal(file('hugetlb.2MB.max'), String(8 << 20));
    assert.equal(file('memory.high'), String(200 << 20));
    // The controllers the pod's limits need are enabled below the root (a real
    // cgroupfs adds "+cpu" to the list; the fake file keeps the last write).
    assert.match(readFileSync(join(base, 'cgroup.subtree_control'), 'utf8'), /^\+(cpu|cpuset|hugetlb)$/);
    // Limits dropped: "max"; the period kept from the file when the request names none.
    resizePodCgroup(host, pod, { resources: { cpuShares: 2 } });
    assert.equal(file('cpu.max'), 'max 100000');
    assert.equal(file('memory.max'), 'max');
    assert.equal(file('memory.swap.max'), 'max');
    // A controller file the cgroup lacks is refused naming the field, and nothing is written.
    assert.throws(() => resizePodCgroup(host, pod, { resources: { cpuShares: 512, unified: { 'io.max': '8:0 rbps=1' } } }),
      (e) => e instanceof BerthError && e.kind === 'FailedPrecondition' && /resources\.unified\[io\.max\]/.test(e.message));
    assert.equal(file('cpu.weight'), '1', 'nothing written when a later file is missing');
    assert.throws(() => resizePodCgroup(host, pod, { resources: { unified: { 'cgroup.procs': '1' } } }),
      (e) => e instanceof BerthError && e.kind === 'InvalidArgument' && /cgroup\.procs/.test(e.message));
    assert.throws(() => resizePodCgroup(host, pod, { resources: { hugepageLimits: [{ pageSize: '1GB', limit: 1 << 30 }] } }),
      (e) => e instanceof BerthError && e.kind === 'FailedPrecondition' && /hugepage_limits\[0\].*1GB/.test(e.message));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('cgroup v1: unified keys are refused on v1, naming the field', () => {
  const base = mkdtempSync(join(tmpdir(), 'berth-v1fake-'));
  try {
    assert.throws(() => resizePodCgroup({ version: 'v1', base, swapAccounted: false }, '/p', { resources: { unified: { 'memory.high': '1' } } }),
      (e) => e instanceof BerthError && e.kind === 'FailedPrecondition' && /resources\.unified: needs cgroup v2/.test(e.message));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
