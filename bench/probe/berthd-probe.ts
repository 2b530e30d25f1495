// Loaded into berthd by the node-scale benchmarks (`node --import` of the
// built file, through startDaemon's nodeArgs) to see inside the daemon
// without changing it:
//   - BERTH_BENCH_LOOP_FILE: one JSON line a second with the worst and the
//     99th percentile event-loop delay of that second, and the garbage
//     collector's pauses in it (the longest, its kind, and their sum), so a
//     benchmark can tell which of its phases stalled the daemon, and whether
//     the collector did;
//   - BERTH_BENCH_PROFILE_DIR: SIGUSR2 starts a CPU profile, the next SIGUSR2
//     writes it there (berthd-<pid>-<n>.cpuprofile), so a profile covers only
//     the load a benchmark measures, not start-up, pod creation or teardown.
// The histogram is native (perf_hooks) and the timer unref'd: it costs the
// daemon next to nothing and never keeps it alive.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'node:inspector';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

const loopFile = process.env.BERTH_BENCH_LOOP_FILE;
if (loopFile) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const gc = { maxMs: 0, kind: '', sumMs: 0 };
  const KINDS: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.sumMs += e.duration;
      if (e.duration <= gc.maxMs) continue;
      gc.maxMs = e.duration;
      gc.kind = KINDS[(e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'other';
    }
  }).observe({ entryTypes: ['gc'] });
  setInterval(() => {
    const line = { at: Date.now(), maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6, gcMaxMs: gc.maxMs, gcKind: gc.kind, gcMs: gc.sumMs };
    h.reset();
    Object.assign(gc, { maxMs: 0, kind: '', sumMs: 0 });
    try {
      appendFileSync(loopFile, JSON.stringify(line) + '\n');
    } catch {
      // the benchmark removed its directory: nothing left to report to
    }
  }, 1000).unref();
}

const profileDir = process.env.BERTH_BENCH_PROFILE_DIR;
if (profileDir) {
  const session = new Session();
  session.connect();
  let running = false;
  let n = 0;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.enable', () => session.post('Profiler.start'));
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      writeFileSync(join(profileDir, `berthd-${process.pid}-${++n}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
