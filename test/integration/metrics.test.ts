// berthd's Prometheus endpoint scraped by a real Prometheus: counters move on
// success and failure paths, and the recording rules in deploy/prometheus
// produce values from them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { podSuite, podConfig, runPod, runContainer, type PodFixture, type PodDaemon } from '../helpers/pods.js';
import { freePort } from '../helpers/registry.js';
import { REPO_ROOT, startDaemon, runCli, tempDir } from '../helpers/daemon.js';
import { startPrometheus, scrapeMetrics, seriesValue, type TestPrometheus } from '../helpers/prometheus.js';
import type { CallError } from '../../src/cli/client.js';

const port = await freePort();
const address = `127.0.0.1:${port}`;
let d: PodDaemon;
let fx: PodFixture;
let prom: TestPrometheus | undefined;
// A runtime handler whose `create` fails as a broken runtime would: runc for
// everything else. Its failures are the runtime's fault, unlike a command
// missing from the image (the pod spec's).
const scripts = tempDir('berth-flaky-');
const flaky = join(scripts, 'flaky-runc');
writeFileSync(flaky, '#!/bin/sh\nfor a in "$@"; do [ "$a" = create ] && { echo "injected runtime failure" >&2; exit 1; }; done\nexec /usr/sbin/runc "$@"\n', { mode: 0o755 });
podSuite({ metrics: address, toml: `[image]\nretries = 0\n[runtime.handlers.flaky]\npath = "${flaky}"\n` }, (f, daemon) => {
  fx = f;
  d = daemon;
});
after(async () => {
  await prom?.stop();
  rmSync(scripts, { recursive: true, force: true });
});

const scrape = (addr = address): Promise<string> => scrapeMetrics(addr);
const value = seriesValue;

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

test('a real Prometheus scrapes berthd; counters move on success and failure; recording rules produce values', async () => {
  prom = await startPrometheus([address], [join(REPO_ROOT, 'deploy/prometheus/berth-rules.yml')]);
  const registry = fx.image.split('/')[0]!;
  // The pod daemon already pulled once: that created the per-registry series. Let
  // Prometheus see them before the counted actions, since rate() ignores a series' first value.
  await until('two scrapes of the pull series', async () => {
    const r = await prom!.query(`count_over_time(berth_image_pull_attempts_total{registry="${registry}"}[1m])`);
    return r[0] && r[0].value >= 2 ? true : undefined;
  });
  const up = await prom.query('up{job="berth"}');
  assert.equal(up[0]?.value, 1);

  await d.client.call('PullImage', { image: { image: fx.image } }, 60_000);
  const missing = `${registry}/does-not-exist:nope`;
  await assert.rejects(d.client.call('PullImage', { image: { image: missing } }, 60_000));
  // Nothing listens on port 1: the registry's fault, not the caller's.
  await assert.rejects(d.client.call('PullImage', { image: { image: '127.0.0.1:1/test/unreachable:v1' } }, 60_000));

  const pod = await runPod(d);
  await assert.rejects(d.client.call('RunPodSandbox', { config: podConfig(), runtimeHandler: 'no-such-handler' }), 'a failing RunPodSandbox');
  await runContainer(d, pod, fx.image, { command: ['sleep', '1000'] });
  // runc refuses it after CreateContainer answered; StartContainer reports it. The pod spec's fault.
  await assert.rejects(runContainer(d, pod, fx.image, { command: ['/no/such/binary'] }), (e: CallError) => e.code === 9);
  // A runtime that fails: the runtime's fault.
  const flakyConfig = podConfig();
  const flakyPod = { config: flakyConfig, id: (await d.client.call<{ podSandboxId: string }>('RunPodSandbox', { config: flakyConfig, runtimeHandler: 'flaky' })).podSandboxId };
  await assert.rejects(runContainer(d, flakyPod, fx.image, { command: ['sleep', '1000'] }), (e: CallError) => e.code === 9);

  const body = await scrape();
  assert.equal(value(body, `berth_image_pull_attempts_total{registry="${registry}"}`), 3);
  assert.equal(value(body, `berth_image_pull_successes_total{registry="${registry}"}`), 2);
  assert.equal(value(body, `berth_image_pull_failures_total{registry="${registry}",reason="not_found",fault="user"}`), 1, 'a 404 is the caller\'s fault');
  assert.equal(value(body, 'berth_image_pull_failures_total{registry="127.0.0.1:1",reason="unreachable",fault="registry"}'), 1);
  assert.equal(value(body, 'berth_container_start_attempts_total'), 3);
  assert.equal(value(body, 'berth_container_start_successes_total'), 1);
  assert.equal(value(body, 'berth_container_start_failures_total{reason="BadCommand",fault="user"}'), 1);
  assert.equal(value(body, 'berth_container_start_failures_total{reason="CreateError",fault="runtime"}'), 1);
  assert.equal(value(body, 'berth_sandbox_create_attempts_total'), 3);
  assert.equal(value(body, 'berth_sandbox_create_failures_total{reason="BadConfig",fault="user"}'), 1);
  assert.equal(value(body, 'berth_container_start_latency_seconds_count'), 1);
  assert.equal(value(body, 'berth_container_create_to_running_seconds_count'), 1);
  assert.equal(value(body, 'berth_daemon_starts_total'), 1);
  assert.equal(value(body, 'berth_daemon_unclean_restarts_total'), 0);
  assert.equal(value(body, 'berth_disk_pressure{fs="image"}'), 0);
  assert.ok(value(body, 'berth_daemon_uptime_seconds') > 0);
  assert.ok(value(body, 'berth_cri_requests_total{method="RuntimeService/StartContainer",code="OK"}') >= 1);
  assert.ok(body.includes('berth_cri_request_errors_total{method="ImageService/PullImage"'), 'the failed pull is a CRI error');
  assert.ok(value(body, 'berth_image_fs_used_bytes') > 0);
  assert.ok(value(body, 'berth_image_fs_size_bytes') > 0);
  assert.ok(value(body, 'berth_process_resident_memory_bytes') > 0);

  // Two starts (the caller's failures left out) are too few for a verdict by default (20 events)...
  const few = await runCli(['slo', '--config', join(d.dir, 'berth.toml'), '--no-store']);
  assert.equal(few.code, 0, few.stdout + few.stderr);
  assert.match(few.stdout, /container start success\s+50\.000%\s+>= 99\.500%\s+2\s+no verdict \(< 20 events\)/);
  // ...but with --min-events 1 `berth slo` judges them, leaving out the caller's
  // failures: of the starts the runtime could have made, 1 of 2 failed; of the pulls, 1 of 3.
  const slo = await runCli(['slo', '--config', join(d.dir, 'berth.toml'), '--snapshot-file', join(d.dir, 'slo.json'), '--min-events', '1', '-o', 'json']);
  assert.equal(slo.code, 2, slo.stderr);
  const rep = JSON.parse(slo.stdout) as { breached: boolean; results: { name: string; value?: number; breached: boolean }[] };
  const startSli = rep.results.find((x) => x.name === 'container start success')!;
  assert.equal(startSli.value, 0.5);
  assert.equal(startSli.breached, true);
  assert.equal(rep.results.find((x) => x.name === 'image pull success')!.value, 2 / 3);
  // A second run measures from the stored reading: nothing happened since, so nothing is breached.
  const again = await runCli(['slo', '--metrics-address', address, '--config', join(d.dir, 'berth.toml'), '--snapshot-file', join(d.dir, 'slo.json')]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /container start success\s+-/);
  assert.match(again.stdout, /all SLOs met/);

  const ratio = async (q: string): Promise<number | undefined> => {
    const r = await prom!.query(q);
    return r.length && Number.isFinite(r[0]!.value) ? r[0]!.value : undefined;
  };
  // Wait for rule values that reflect the actions above, not just any value.
  const startRatio = await until('start success ratio', async () => {
    const v = await ratio('berth:container_start_success:ratio_rate5m');
    return v !== undefined && v < 1 ? v : undefined;
  });
  assert.ok(startRatio > 0 && startRatio < 1, `start success ratio ${startRatio}`);
  const pullRatio = await until('pull success ratio', async () => {
    const v = await ratio('berth:image_pull_success:ratio_rate5m');
    return v !== undefined && v < 1 ? v : undefined;
  });
  assert.ok(pullRatio > 0 && pullRatio < 1, `pull success ratio ${pullRatio}`);
  const p95 = await until('p95 start latency', () => ratio('berth:container_start_latency_seconds:p95_5m'));
  assert.ok(p95 > 0 && p95 <= 60, `p95 ${p95}`);
  // The one failed RunPodSandbox named a handler that does not exist: the caller's fault, left out.
  const sbFail = await until('sandbox failure ratio', () => ratio('berth:sandbox_create_failure:ratio_rate5m'));
  assert.equal(sbFail, 0, `sandbox failure ratio ${sbFail}`);
  const burn = await until('start error ratio 1h', () => ratio('berth:container_start_errors:ratio_rate1h'));
  assert.ok(burn > 0);
  const fsFree = await until('image fs free ratio', () => ratio('berth:image_fs_available:ratio'));
  assert.ok(fsFree > 0 && fsFree <= 1);

  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
  await d.client.call('RemovePodSandbox', { podSandboxId: flakyPod.id });
  await prom.stop();
  prom = undefined;
});

test('berth_daemon_starts_total persists across restarts; the endpoint closes with the daemon', async () => {
  const p = await freePort();
  const a = `127.0.0.1:${p}`;
  const first = await startDaemon({ metrics: a });
  try {
    assert.equal(value(await scrape(a), 'berth_daemon_starts_total'), 1);
    await first.stop();
    const second = await startDaemon({ dir: first.dir, metrics: a });
    assert.equal(value(await scrape(a), 'berth_daemon_starts_total'), 2);
    // Two readings one second apart: nothing happened, so nothing is breached.
    const slo = await runCli(['slo', '--config', join(first.dir, 'berth.toml'), '--sample', '1']);
    assert.equal(slo.code, 0, slo.stdout + slo.stderr);
    assert.match(slo.stdout, /^window: 1s/);
    assert.match(slo.stdout, /container start success\s+-\s+>= 99\.500%\s+0\s+no data/);
    await second.stop();
    await assert.rejects(fetch(`http://${a}/metrics`), 'the endpoint closes with the daemon');
    const down = await runCli(['slo', '--metrics-address', a, '--no-store']);
    assert.equal(down.code, 1, 'an unreachable endpoint is an error, not a breach');
    assert.match(down.stderr, new RegExp(`cannot reach berthd's metrics endpoint http://${a.replace(/\./g, '\\.')}/metrics: ECONNREFUSED`));
  } finally {
    first.cleanup();
  }
});
