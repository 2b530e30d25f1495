// The node signals beside the calls' own counters, each moved by its own
// cause: OOM kills per pod (a process killed inside a container that keeps
// running), start latency apart from the caller's pause between create and
// start and the OCI runtime's own share of both, unclean restarts (M4) and
// disk pressure (M9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { podSuite, runPod, runContainer, createContainer, status, type PodFixture, type PodDaemon } from '../helpers/pods.js';
import { freePort } from '../helpers/registry.js';
import { startDaemon } from '../helpers/daemon.js';
import { scrapeMetrics, seriesValue } from '../helpers/prometheus.js';

const address = `127.0.0.1:${await freePort()}`;
let d: PodDaemon;
let fx: PodFixture;
// The image filesystem is "under pressure" above a ratio this small; the container one never.
podSuite({ metrics: address, args: ['--metrics-image-fs-pressure', '0.000001', '--metrics-container-fs-pressure', '1'] }, (f, daemon) => {
  fx = f;
  d = daemon;
});

const scrape = (addr = address): Promise<string> => scrapeMetrics(addr);
const value = seriesValue;

test('OOM kills are counted per pod from the cgroups, also of a process killed inside a container that keeps running', async () => {
  const pod = await runPod(d);
  const name = (pod.config.metadata as { name: string }).name;
  // tail reads /dev/zero into memory until the OOM killer takes it; the shell goes on.
  const id = await runContainer(d, pod, fx.image, {
    command: ['sh', '-c', 'tail /dev/zero; sleep 1000'], linux: { resources: { memoryLimitInBytes: String(16 << 20) } },
  });
  const series = `berth_pod_oom_kills_total{namespace="test",pod="${name}"}`;
  let kills = NaN;
  for (let i = 0; i < 150 && !(kills >= 1); i++) {
    await sleep(200);
    kills = value(await scrape(), series);
  }
  assert.ok(kills >= 1, `${series} = ${kills}`);
  assert.equal((await status(d, id)).state, 'CONTAINER_RUNNING', 'the container itself did not exit');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
  assert.ok(value(await scrape(), series) >= kills, 'the count outlives the pod');
});

test('start latency runs from StartContainer, apart from the caller\'s pause after CreateContainer', async () => {
  const pod = await runPod(d);
  const before = await scrape();
  const id = await createContainer(d, pod, fx.image);
  await sleep(3000);
  await d.client.call('StartContainer', { containerId: id });
  const after = await scrape();
  const delta = (s: string): number => value(after, s) - value(before, s);
  assert.equal(delta('berth_container_start_latency_seconds_count'), 1);
  assert.equal(delta('berth_container_create_to_running_seconds_count'), 1);
  const start = delta('berth_container_start_latency_seconds_sum');
  const createToRunning = delta('berth_container_create_to_running_seconds_sum');
  assert.ok(createToRunning >= 3, `create to running ${createToRunning}`);
  assert.ok(createToRunning - start >= 2.9, `the pause is not in the start latency: start ${start}, create to running ${createToRunning}`);
  // The OCI runtime's own share: one create and one start, each inside what the caller waited for.
  const op = (o: string, part: string): string => `berth_runtime_operation_duration_seconds_${part}{handler="runc",operation="${o}"}`;
  assert.equal(delta(op('create', 'count')), 1);
  assert.equal(delta(op('start', 'count')), 1);
  const runtimeCreate = delta(op('create', 'sum'));
  const runtimeStart = delta(op('start', 'sum'));
  assert.ok(runtimeCreate > 0 && runtimeCreate < 3, `runtime create ${runtimeCreate} (done during the caller's pause)`);
  assert.ok(runtimeStart > 0 && runtimeStart <= start, `runtime start ${runtimeStart}, StartContainer ${start}`);
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('disk pressure: a filesystem above its threshold is flagged, counted once and logged; one under it is not', async () => {
  const body = await scrape();
  assert.equal(value(body, 'berth_disk_pressure{fs="image"}'), 1);
  assert.equal(value(body, 'berth_disk_pressure_events_total{fs="image"}'), 1);
  assert.equal(value(body, 'berth_disk_pressure{fs="container"}'), 0);
  assert.equal(value(body, 'berth_disk_pressure_events_total{fs="container"}'), 0);
  assert.match(await d.logsMatching(/disk pressure: filesystem used above its threshold/), /"fs":"image"/);
});

test('unclean restarts (M4): a SIGKILLed berthd is counted at its next start, a clean stop is not', async () => {
  const a = `127.0.0.1:${await freePort()}`;
  const first = await startDaemon({ metrics: a });
  try {
    assert.equal(value(await scrape(a), 'berth_daemon_unclean_restarts_total'), 0);
    await first.kill();
    const second = await startDaemon({ dir: first.dir, metrics: a });
    assert.equal(value(await scrape(a), 'berth_daemon_unclean_restarts_total'), 1);
    assert.match(await second.logsMatching(/did not shut down cleanly/), /did not shut down cleanly/);
    assert.equal(await second.stop(), 0);
    const third = await startDaemon({ dir: first.dir, metrics: a });
    const body = await scrape(a);
    assert.equal(value(body, 'berth_daemon_unclean_restarts_total'), 1, 'a clean stop is not counted');
    assert.equal(value(body, 'berth_daemon_starts_total'), 3);
    await third.stop();
  } finally {
    first.cleanup();
  }
});
