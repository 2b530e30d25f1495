// UpdatePodSandboxResources on this host's cgroup v1 files: the pod's
// cgroup (the parent of its containers') gets the limits, checked on the
// host; what the kernel or the host cannot take is refused naming the
// field, and leaves the limits as they were.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallError } from '../../src/cli/client.js';
import { podSuite, runPod, runContainer, type PodFixture, type PodDaemon } from '../helpers/pods.js';

let d: PodDaemon;
let fx: PodFixture;
podSuite({}, (f, daemon) => {
  fx = f;
  d = daemon;
});

const v1 = existsSync('/sys/fs/cgroup/cpu/cpu.shares');
const read = (ctrl: string, path: string, file: string): string => readFileSync(join('/sys/fs/cgroup', ctrl, path, file), 'utf8').trim();
const resize = (podSandboxId: string, resources?: Record<string, unknown>, overhead?: Record<string, unknown>): Promise<unknown> =>
  d.client.call('UpdatePodSandboxResources', { podSandboxId, resources, overhead });

test('pod resize on cgroup v1: cpu, memory, swap and cpuset on the pod cgroup; refusals name the field and change nothing', { skip: !v1 && 'controllers not on cgroup v1 here' }, async () => {
  const pod = await runPod(d);
  const cg = `${d.cgroupParent}/${pod.id}`;
  // Before any container: the pod cgroup is made, and removed with the pod (podSuite checks).
  await resize(pod.id, { cpuShares: '300' });
  assert.equal(read('cpu', cg, 'cpu.shares'), '300');
  const c = await runContainer(d, pod, fx.image, { linux: { resources: { cpuQuota: '80000', cpuPeriod: '100000' } } });
  await resize(pod.id, {
    cpuShares: '1024', cpuQuota: '150000', cpuPeriod: '100000', memoryLimitInBytes: String(256 << 20),
    memorySwapLimitInBytes: String(384 << 20), cpusetCpus: read('cpuset', '', 'cpuset.cpus'),
  }, { cpuShares: '100', cpuQuota: '10000', cpuPeriod: '100000', memoryLimitInBytes: String(32 << 20) });
  assert.equal(read('cpu', cg, 'cpu.shares'), '1124');
  assert.equal(read('cpu', cg, 'cpu.cfs_period_us'), '100000');
  assert.equal(read('cpu', cg, 'cpu.cfs_quota_us'), '160000');
  assert.equal(read('memory', cg, 'memory.limit_in_bytes'), String(288 << 20));
  if (existsSync(join('/sys/fs/cgroup/memory', cg, 'memory.memsw.limit_in_bytes'))) {
    assert.equal(read('memory', cg, 'memory.memsw.limit_in_bytes'), String((384 + 32) << 20));
  }
  assert.equal(read('cpuset', cg, 'cpuset.cpus'), read('cpuset', '', 'cpuset.cpus'));
  // The container's own cgroup sits below and keeps its limits.
  assert.equal(read('cpu', `${cg}/${c}`, 'cpu.cfs_quota_us'), '80000');

  // Below the container's own quota: the kernel refuses; the shares written
  // before it are put back.
  await assert.rejects(resize(pod.id, { cpuShares: '700', cpuQuota: '20000', cpuPeriod: '100000', memoryLimitInBytes: String(256 << 20) }),
    (e: CallError) => e.code === 3 && /resources\.cpu_quota/.test(e.details));
  assert.equal(read('cpu', cg, 'cpu.shares'), '1124');
  assert.equal(read('cpu', cg, 'cpu.cfs_quota_us'), '160000');
  // A pod cpuset narrower than its container's (v1 wants children inside
  // their parent): refused, and the memory limit written before it undone.
  if (read('cpuset', `${cg}/${c}`, 'cpuset.cpus') !== '0') {
    await assert.rejects(resize(pod.id, { memoryLimitInBytes: String(128 << 20), cpusetCpus: '0' }),
      (e: CallError) => e.code === 9 && /resources\.cpuset_cpus/.test(e.details));
    assert.equal(read('memory', cg, 'memory.limit_in_bytes'), String(288 << 20));
  }
  await assert.rejects(resize(pod.id, { unified: { 'memory.high': '1000000' } }),
    (e: CallError) => e.code === 9 && /resources\.unified/.test(e.details));
  if (!existsSync('/sys/fs/cgroup/hugetlb')) {
    await assert.rejects(resize(pod.id, { hugepageLimits: [{ pageSize: '2MB', limit: String(4 << 20) }] }),
      (e: CallError) => e.code === 9 && /resources\.hugepage_limits\[0\]/.test(e.details));
  }
  await assert.rejects(resize(pod.id, { cpuPeriod: '10' }), (e: CallError) => e.code === 3 && /resources\.cpu_period/.test(e.details));
  await assert.rejects(resize('f'.repeat(64), { cpuShares: '2' }), (e: CallError) => e.code === 5);
  // Limits left unset mean none.
  await resize(pod.id, { cpuShares: '512' });
  assert.equal(read('cpu', cg, 'cpu.cfs_quota_us'), '-1');
  assert.ok(Number(read('memory', cg, 'memory.limit_in_bytes')) > 2 ** 60);
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});
