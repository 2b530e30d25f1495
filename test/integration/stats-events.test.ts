import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { podSuite, runPod, runContainer, createContainer, execSync, type PodFixture, type PodDaemon } from '../helpers/pods.js';

let d: PodDaemon;
let fx: PodFixture;
podSuite({}, (f, daemon) => {
  fx = f;
  d = daemon;
});

interface U64 { value: string }
interface CStats {
  attributes: { id: string; metadata: { name: string }; labels: Record<string, string> };
  cpu: { timestamp: string; usageCoreNanoSeconds: U64 | null; usageNanoCores: U64 | null } | null;
  memory: { workingSetBytes: U64 | null; usageBytes: U64 | null; rssBytes: U64 | null; pageFaults: U64 | null; availableBytes: U64 | null } | null;
  writableLayer: { usedBytes: U64 | null; inodesUsed: U64 | null; fsId: { mountpoint: string } } | null;
}
interface PStats {
  attributes: { id: string; metadata: { name: string } };
  linux: { cpu: CStats['cpu']; memory: CStats['memory']; process: { processCount: U64 } | null; network: { interfaces: { name: string }[] } | null; containers: CStats[] };
}

const n = (v: U64 | null | undefined): number => Number(v?.value ?? -1);
const cstats = async (id: string): Promise<CStats> => (await d.client.call<{ stats: CStats }>('ContainerStats', { containerId: id })).stats;

test('stats of a container burning CPU and holding memory move on this host\'s cgroups', async () => {
  const pod = await runPod(d, { labels: { app: 'stats' } });
  // 40 MiB written to the pod's /dev/shm stays charged to the container's memory cgroup (tmpfs pages are not reclaimable).
  const id = await runContainer(d, pod, fx.image, {
    command: ['sh', '-c', 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; while :; do :; done'],
    labels: { role: 'burner' },
  });
  const idle = await runContainer(d, pod, fx.image, { command: ['sleep', '1000'] });

  let s = await cstats(id);
  const deadline = Date.now() + 15_000;
  while (n(s.memory?.workingSetBytes) < 40 * 1024 * 1024 && Date.now() < deadline) {
    await sleep(100);
    s = await cstats(id);
  }
  assert.ok(n(s.memory?.workingSetBytes) >= 40 * 1024 * 1024, `working set ${n(s.memory?.workingSetBytes)}`);
  assert.ok(n(s.memory?.usageBytes) >= n(s.memory?.workingSetBytes));
  assert.ok(n(s.memory?.pageFaults) > 0);
  assert.equal(s.attributes.metadata.name.startsWith('c'), true);

  // What the stats say is what the cgroup says, read on the host just before
  // and just after the call (how much CPU the burner gets depends on what
  // else the machine runs, so no share of a core is assumed).
  const usageFile = `/sys/fs/cgroup/cpuacct${d.cgroupParent}/${pod.id}/${id}/cpuacct.usage`;
  const hostUsage = (): number => Number(readFileSync(usageFile, 'utf8').trim());
  const cpu1 = n(s.cpu?.usageCoreNanoSeconds);
  let s2 = s;
  for (const until = Date.now() + 15_000; n(s2.cpu?.usageCoreNanoSeconds) - cpu1 < 0.2e9 && Date.now() < until;) {
    await sleep(200);
    const before = hostUsage();
    s2 = await cstats(id);
    const after = hostUsage();
    const reported = n(s2.cpu?.usageCoreNanoSeconds);
    assert.ok(before <= reported && reported <= after, `reported ${reported} ns outside the host's ${before}..${after}`);
  }
  assert.ok(n(s2.cpu?.usageCoreNanoSeconds) - cpu1 >= 0.2e9, `cpu moved ${n(s2.cpu?.usageCoreNanoSeconds) - cpu1} ns`);
  // Rates come from samples at least a second apart.
  await sleep(1100);
  s2 = await cstats(id);
  const cores = n(s2.cpu?.usageNanoCores);
  assert.ok(cores > 0 && cores <= availableParallelism() * 1e9 * 1.05, `nano cores ${cores}`);
  assert.ok(BigInt(s2.cpu!.timestamp) > BigInt(s.cpu!.timestamp));

  // The writable layer grows with what the container writes to its rootfs.
  await execSync(d, idle, ['dd', 'if=/dev/zero', 'of=/big', 'bs=1M', 'count=3']);
  await sleep(2100);
  const w = (await cstats(idle)).writableLayer;
  assert.ok(n(w?.usedBytes) >= 3 * 1024 * 1024, `writable layer ${n(w?.usedBytes)}`);
  assert.ok(n(w?.inodesUsed) >= 2);
  assert.ok(w!.fsId.mountpoint.startsWith('/'));

  const byPod = await d.client.call<{ stats: CStats[] }>('ListContainerStats', { filter: { podSandboxId: pod.id } });
  assert.deepEqual(byPod.stats.map((x) => x.attributes.id).sort(), [id, idle].sort());
  const byLabel = await d.client.call<{ stats: CStats[] }>('ListContainerStats', { filter: { labelSelector: { role: 'burner' } } });
  assert.deepEqual(byLabel.stats.map((x) => x.attributes.id), [id]);
  const byId = await d.client.call<{ stats: CStats[] }>('ListContainerStats', { filter: { id: idle.slice(0, 12) } });
  assert.deepEqual(byId.stats.map((x) => x.attributes.id), [idle]);
  const streamed = await d.client.stream<{ containerStats: CStats[] }>('StreamContainerStats', { filter: { podSandboxId: pod.id } });
  assert.equal(streamed.flatMap((m) => m.containerStats).length, 2);

  const ps = (await d.client.call<{ stats: PStats }>('PodSandboxStats', { podSandboxId: pod.id })).stats;
  assert.equal(ps.attributes.id, pod.id);
  assert.ok(n(ps.linux.cpu?.usageCoreNanoSeconds) >= n(s2.cpu?.usageCoreNanoSeconds), 'the pod cgroup includes its containers');
  assert.ok(n(ps.linux.memory?.workingSetBytes) >= 40 * 1024 * 1024);
  assert.ok(n(ps.linux.process?.processCount) >= 2, `processes ${n(ps.linux.process?.processCount)}`);
  // The pod's interfaces are those its containers see, not the host's.
  const names = (t: string): string[] => t.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter((x) => x && x !== 'lo').sort();
  const inside = names((await execSync(d, idle, ['cat', '/proc/net/dev'])).stdout);
  assert.ok(inside.length > 0);
  assert.deepEqual(ps.linux.network?.interfaces.map((i) => i.name).sort(), inside, 'network read from the pod namespace');
  assert.equal(ps.linux.containers.length, 2);
  const list = await d.client.call<{ stats: PStats[] }>('ListPodSandboxStats', { filter: { labelSelector: { app: 'stats' } } });
  assert.deepEqual(list.stats.map((x) => x.attributes.id), [pod.id]);
  const sstream = await d.client.stream<{ podSandboxStats: PStats[] }>('StreamPodSandboxStats', { filter: { id: pod.id } });
  assert.deepEqual(sstream.flatMap((m) => m.podSandboxStats).map((x) => x.attributes.id), [pod.id]);

  const desc = await d.client.call<{ descriptors: { name: string }[] }>('ListMetricDescriptors', {});
  assert.ok(desc.descriptors.some((x) => x.name === 'container_memory_working_set_bytes'));
  const pm = await d.client.call<{ podMetrics: { podSandboxId: string; containerMetrics: { containerId: string; metrics: { name: string; value: U64 }[] }[] }[] }>('ListPodSandboxMetrics', {});
  const mine = pm.podMetrics.find((p) => p.podSandboxId === pod.id)!;
  const cm = mine.containerMetrics.find((c) => c.containerId === id)!;
  assert.ok(n(cm.metrics.find((m) => m.name === 'container_memory_working_set_bytes')?.value) >= 40 * 1024 * 1024);

  const pmStream = await d.client.stream<{ podSandboxMetrics: { podSandboxId: string }[] }>('StreamPodSandboxMetrics', {});
  assert.ok(pmStream.flatMap((m) => m.podSandboxMetrics).some((p) => p.podSandboxId === pod.id));

  // With no process left in the pod (its containers between two runs), its network counters are still the pod's.
  for (const c of [id, idle]) await d.client.call('StopContainer', { containerId: c, timeout: 0 });
  for (const call of ['PodSandboxStats', 'ListPodSandboxStats'] as const) {
    const got = call === 'PodSandboxStats'
      ? (await d.client.call<{ stats: PStats }>(call, { podSandboxId: pod.id })).stats
      : (await d.client.call<{ stats: PStats[] }>(call, { filter: { id: pod.id } })).stats[0]!;
    assert.deepEqual(got.linux.network?.interfaces.map((i) => i.name).sort(), inside, `${call}: the pod's interfaces with no container running`);
  }

  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

interface Ev {
  containerId: string;
  containerEventType: string;
  createdAt: string;
  podSandboxStatus: { id: string; state: string } | null;
  containersStatuses: { id: string; state: string }[];
}

function subscribe(): { events: Ev[]; call: ClientReadableStream<Ev>; errors: unknown[] } {
  const call = d.client.open<Ev>('GetContainerEvents', {});
  const events: Ev[] = [];
  const errors: unknown[] = [];
  call.on('data', (e: Ev) => events.push(e));
  call.on('error', (e) => errors.push(e));
  return { events, call, errors };
}

test('GetContainerEvents: two subscribers see a pod\'s whole lifecycle in order, with statuses', async () => {
  const a = subscribe();
  const b = subscribe();
  await sleep(200); // the subscriptions are registered when the call reaches the daemon
  const pod = await runPod(d);
  const id = await createContainer(d, pod, fx.image, { command: ['sleep', '1000'] });
  await d.client.call('StartContainer', { containerId: id });
  await d.client.call('StopContainer', { containerId: id, timeout: 0 });
  await d.client.call('RemoveContainer', { containerId: id });
  await d.client.call('StopPodSandbox', { podSandboxId: pod.id });
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
  const want = ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'];
  const deadline = Date.now() + 5000;
  while ((a.events.length < 8 || b.events.length < 8) && Date.now() < deadline) await sleep(20);
  for (const s of [a, b]) {
    const mine = s.events.filter((e) => e.containerId === id);
    assert.deepEqual(mine.map((e) => e.containerEventType), want);
    const times = mine.map((e) => BigInt(e.createdAt));
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! >= times[i - 1]!);
    assert.equal(mine[0]!.podSandboxStatus?.id, pod.id);
    assert.equal(mine[0]!.podSandboxStatus?.state, 'SANDBOX_READY');
    assert.equal(mine[0]!.containersStatuses.find((c) => c.id === id)?.state, 'CONTAINER_CREATED');
    assert.equal(mine[1]!.containersStatuses.find((c) => c.id === id)?.state, 'CONTAINER_RUNNING');
    assert.equal(mine[2]!.containersStatuses.find((c) => c.id === id)?.state, 'CONTAINER_EXITED');
    assert.equal(mine[3]!.containersStatuses.find((c) => c.id === id), undefined);
    // The pod's own events carry its ID as the container ID (as containerd's do) and its status, even when deleted.
    const podEvents = s.events.filter((e) => e.containerId === pod.id);
    assert.deepEqual(podEvents.map((e) => e.containerEventType), want);
    assert.deepEqual(podEvents.map((e) => e.podSandboxStatus?.state), ['SANDBOX_READY', 'SANDBOX_READY', 'SANDBOX_NOTREADY', 'SANDBOX_NOTREADY']);
    assert.ok(podEvents.every((e) => e.podSandboxStatus?.id === pod.id));
    const order = s.events.filter((e) => e.containerId === pod.id || e.containerId === id).map((e) => `${e.containerId === pod.id ? 'pod' : 'ctr'} ${e.containerEventType}`);
    assert.deepEqual(order, [
      'pod CONTAINER_CREATED_EVENT', 'pod CONTAINER_STARTED_EVENT', 'ctr CONTAINER_CREATED_EVENT', 'ctr CONTAINER_STARTED_EVENT',
      'ctr CONTAINER_STOPPED_EVENT', 'ctr CONTAINER_DELETED_EVENT', 'pod CONTAINER_STOPPED_EVENT', 'pod CONTAINER_DELETED_EVENT',
    ]);
    assert.deepEqual(s.errors, []);
  }

  // A container that exits at once still shows started before stopped.
  const pod2 = await runPod(d);
  const quick = await runContainer(d, pod2, fx.image, { command: ['true'] });
  const until = Date.now() + 5000;
  while (a.events.filter((e) => e.containerId === quick).length < 3 && Date.now() < until) await sleep(20);
  assert.deepEqual(a.events.filter((e) => e.containerId === quick).map((e) => e.containerEventType), want.slice(0, 3));
  await d.client.call('RemovePodSandbox', { podSandboxId: pod2.id });
  a.call.cancel();
  b.call.cancel();
});
