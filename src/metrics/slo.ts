// SLIs of `berth slo`, computed from two readings of berthd's counters: a
// baseline and now. Counters only grow while berthd runs, so the difference
// is what happened in between; when berthd restarted in between (its start
// time changed) the counters began again from zero, and the window is
// shortened to "since that start".
import { buckets, sum, type Sample } from './exposition.js';

export interface Reading {
  /** Unix seconds the reading was taken. */
  at: number;
  samples: Sample[];
}

export interface Targets {
  startSuccess: number;
  startLatencyP95: number;
  pullSuccess: number;
}

export interface SliResult {
  name: string;
  /** Measured value; undefined when nothing happened in the window. */
  value?: number;
  target?: number;
  /** 'min': value must be at least the target; 'max': at most. */
  kind: 'min' | 'max' | 'info';
  unit: 'ratio' | 'seconds' | 'count';
  events: number;
  breached: boolean;
}

export interface SloReport {
  /** Seconds the results cover. */
  coveredSeconds: number;
  /** Why the window is not the requested one, if it is not. */
  note?: string;
  restartedInWindow: boolean;
  results: SliResult[];
  breached: boolean;
}

const START = 'berth_daemon_start_time_seconds';

/** histogram_quantile's estimate: linear interpolation inside the bucket the rank falls in. */
export function quantile(q: number, b: { le: number; count: number }[]): number | undefined {
  const total = b.length ? b[b.length - 1]!.count : 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const { le, count } of b) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      if (count === prevCount) return le;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** The cumulative buckets of `name` counted since `base` (all of them without one). */
export function diffBuckets(now: Sample[], base: Sample[] | undefined, name: string): { le: number; count: number }[] {
  const b0 = new Map((base ? buckets(base, name) : []).map((x) => [x.le, x.count]));
  return buckets(now, name).map((x) => ({ le: x.le, count: Math.max(0, x.count - (b0.get(x.le) ?? 0)) }));
}

function ratio(name: string, good: number, total: number, target: number): SliResult {
  if (total <= 0) return { name, kind: 'min', unit: 'ratio', target, events: 0, breached: false };
  const value = Math.min(1, good / total);
  return { name, value, target, kind: 'min', unit: 'ratio', events: total, breached: value < target };
}

export function evaluate(now: Reading, baseline: Reading | undefined, targets: Targets, windowSeconds: number): SloReport {
  const startedAt = sum(now.samples, START);
  const restarted = baseline !== undefined && Math.abs(sum(baseline.samples, START) - startedAt) > 0.5;
  // A baseline from before a restart is worthless: count from the start instead.
  const base = baseline && !restarted ? baseline.samples : undefined;
  const from = base ? baseline!.at : startedAt;
  const covered = Math.max(0, now.at - from);
  const d = (name: string, match?: Record<string, string>): number => Math.max(0, sum(now.samples, name, match) - (base ? sum(base, name, match) : 0));

  let note: string | undefined;
  if (restarted) note = `berthd restarted ${Math.round(now.at - startedAt)}s ago; the counters cover only the time since`;
  else if (!baseline && covered > windowSeconds) note = `no reading from ${windowSeconds}s ago is stored: the results cover berthd's whole uptime`;
  else if (covered + 1 < windowSeconds) note = `readings cover ${Math.round(covered)}s of the ${windowSeconds}s window`;

  const latency = quantile(0.95, diffBuckets(now.samples, base, 'berth_container_start_latency_seconds'));
  const latencyCount = d('berth_container_start_latency_seconds_count');
  // The runtime's SLIs leave out failures that are the caller's fault (an
  // image that does not exist, bad credentials, a bad spec): see docs/metrics.md.
  const user = { fault: 'user' };
  const sbAttempts = d('berth_sandbox_create_attempts_total') - d('berth_sandbox_create_failures_total', user);
  const sbFailures = d('berth_sandbox_create_failures_total') - d('berth_sandbox_create_failures_total', user);
  const results: SliResult[] = [
    ratio('container start success', d('berth_container_start_successes_total'),
      d('berth_container_start_attempts_total') - d('berth_container_start_failures_total', user), targets.startSuccess),
    {
      name: 'container start latency p95', value: latencyCount ? latency : undefined, target: targets.startLatencyP95, kind: 'max', unit: 'seconds',
      events: latencyCount, breached: latencyCount > 0 && latency !== undefined && latency > targets.startLatencyP95,
    },
    ratio('image pull success', d('berth_image_pull_successes_total'),
      d('berth_image_pull_attempts_total') - d('berth_image_pull_failures_total', user), targets.pullSuccess),
    {
      name: 'sandbox create success', kind: 'info', unit: 'ratio', events: sbAttempts, breached: false,
      value: sbAttempts > 0 ? 1 - sbFailures / sbAttempts : undefined,
    },
    { name: 'container restarts', kind: 'info', unit: 'count', events: d('berth_container_restarts_total'), value: d('berth_container_restarts_total'), breached: false },
  ];
  return { coveredSeconds: covered, note, restartedInWindow: restarted, results, breached: results.some((r) => r.breached) };
}

/**
 * Picks the baseline for a window from stored readings: the newest one at
 * least `window` old, else the oldest one (a shorter window, reported as such).
 */
export function pickBaseline(stored: Reading[], nowAt: number, windowSeconds: number): Reading | undefined {
  const sorted = [...stored].sort((a, b) => a.at - b.at);
  let best: Reading | undefined;
  for (const r of sorted) if (r.at <= nowAt - windowSeconds) best = r;
  return best ?? sorted[0];
}
