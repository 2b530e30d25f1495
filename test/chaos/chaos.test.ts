// The chaos suite (see chaos.ts): SIGKILL of berthd at random points of a
// parallel mixed workload, and right after each kind of answer, with every
// invariant checked after each restart and a leak check after the final
// teardown. CI runs BERTH_CHAOS_ROUNDS rounds (default 30); longer runs:
// `node dist/test/chaos/run.js 100`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChaos, formatReport } from './chaos.js';

const rounds = Number(process.env.BERTH_CHAOS_ROUNDS ?? 30);

test(`chaos: ${rounds} rounds of SIGKILL in a parallel workload; every invariant holds after every restart`, async (t) => {
  const report = await runChaos({ rounds, log: (l) => t.diagnostic(l) });
  for (const line of formatReport(report).split('\n')) t.diagnostic(line);
  const broken = Object.entries(report.counts).filter(([, n]) => n > 0);
  assert.deepEqual(broken, [], formatReport(report));
});
