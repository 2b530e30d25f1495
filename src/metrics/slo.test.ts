import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from './metrics.js';
import { parseExposition, sum, buckets } from './exposition.js';
import { evaluate, pickBaseline, quantile, type Reading } from './slo.js';

const targets = { startSuccess: 0.995, startLatencyP95: 1, pullSuccess: 0.99 };

async function reading(m: Metrics, at: number): Promise<Reading> {
  return { at, samples: parseExposition(await m.registry.metrics()) };
}

test('exposition parsing: labels with escapes, histograms, +Inf', () => {
  const s = parseExposition('# HELP x y\n# TYPE x counter\nx_total{a="b\\"c",reason="d"} 3\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\nplain 4.5\n');
  assert.deepEqual(s[0], { name: 'x_total', labels: { a: 'b"c', reason: 'd' }, value: 3 });
  assert.equal(sum(s, 'plain'), 4.5);
  assert.deepEqual(buckets(s, 'h'), [{ le: 0.5, count: 1 }, { le: Infinity, count: 2 }]);
});

test('quantile interpolates like histogram_quantile', () => {
  const q = quantile(0.95, [{ le: 0.1, count: 2 }, { le: 0.25, count: 8 }, { le: 0.5, count: 9 }, { le: Infinity, count: 9 }])!;
  assert.ok(Math.abs(q - 0.3875) < 1e-9, `p95 ${q} (promtool's test expects 0.3875 for the same buckets)`);
  assert.equal(quantile(0.5, []), undefined);
  assert.equal(quantile(0.99, [{ le: 1, count: 1 }, { le: Infinity, count: 10 }]), 1, 'rank in +Inf bucket: the highest finite bound');
});

test('SLIs over a window from two readings of the real registry; breach when under target', async () => {
  const m = new Metrics(false);
  m.containerStartAttempts.inc(100);
  m.containerStartSuccesses.inc(100);
  const base = await reading(m, 1000);
  // In the window: 10 starts, one fails; 4 pulls, all fine; latencies 0.2 s.
  m.containerStartAttempts.inc(10);
  m.containerStartSuccesses.inc(9);
  for (let i = 0; i < 9; i++) m.containerStartLatency.observe(0.2);
  m.imagePullAttempts.inc({ registry: 'r' }, 4);
  m.imagePullSuccesses.inc({ registry: 'r' }, 4);
  const now = await reading(m, 4600);
  const r = evaluate(now, base, targets, 3600);
  const by = Object.fromEntries(r.results.map((x) => [x.name, x]));
  assert.equal(by['container start success']!.value, 0.9);
  assert.equal(by['container start success']!.events, 10);
  assert.equal(by['container start success']!.breached, true);
  assert.ok(by['container start latency p95']!.value! <= 0.25);
  assert.equal(by['container start latency p95']!.breached, false);
  assert.equal(by['image pull success']!.value, 1);
  assert.equal(r.breached, true);
  assert.equal(r.coveredSeconds, 3600);
  assert.equal(r.note, undefined);

  // No traffic at all is not a breach.
  const quiet = evaluate(now, now, targets, 3600);
  assert.equal(quiet.breached, false);
  assert.equal(quiet.results[0]!.value, undefined);
});

test('a restart between readings falls back to counting since the restart', async () => {
  const before = new Metrics(false);
  before.daemonStartTime.set(100);
  before.containerStartAttempts.inc(50);
  const base = await reading(before, 200);
  const after = new Metrics(false);
  after.daemonStartTime.set(300);
  after.containerStartAttempts.inc(2);
  after.containerStartSuccesses.inc(2);
  const r = evaluate(await reading(after, 400), base, targets, 3600);
  assert.equal(r.restartedInWindow, true);
  assert.equal(r.coveredSeconds, 100);
  assert.equal(r.results[0]!.value, 1);
  assert.match(r.note ?? '', /restarted/);
});

test('baseline choice: newest reading at least a window old, else the oldest', () => {
  const rs = [100, 200, 300, 900].map((at) => ({ at, samples: [] }));
  assert.equal(pickBaseline(rs, 1000, 750)?.at, 200);
  assert.equal(pickBaseline(rs, 1000, 5000)?.at, 100);
  assert.equal(pickBaseline([], 1000, 10), undefined);
});
