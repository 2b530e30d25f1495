// The fuzz suite as CI runs it: a bounded number of requests (20,000 by
// default, BERTH_FUZZ_CI_REQUESTS to change; BERTH_FUZZ_SEED replays a run)
// against a berthd of its own. The long run is `node dist/test/fuzz/run.js`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Campaign, failureCount, summary } from './campaign.js';
import { fuzzPlan } from './plan.js';

/** Peak resident memory berthd may reach during the run (it idles near 75 MiB). */
const MAX_PEAK_RSS = 512 * 1024 * 1024;

const plan = fuzzPlan(Number(process.env.BERTH_FUZZ_CI_REQUESTS ?? 20_000));
let c: Campaign | undefined;
let finished: Awaited<ReturnType<Campaign['finish']>> | undefined;

before(async () => {
  c = await Campaign.start({ seed: plan.seed, concurrency: plan.concurrency });
});

after(async () => {
  if (c && !finished) await c.finish();
});

function check(phase: string, failuresBefore: number): void {
  const t = c!.tally;
  const failed = failureCount(t) - failuresBefore;
  assert.equal(failed, 0, `${phase} (seed ${plan.seed}): ${summary(t)}\n  ${t.failures.join('\n  ')}`);
}

test(`${plan.raw} random and mutated protobuf bodies: no crash, hang, UNKNOWN or INTERNAL from a handler; the connection keeps answering`, async () => {
  await c!.raw(plan.raw);
  check('raw bodies', 0);
});

test(`${plan.structured} structured requests: every request built to be invalid refused naming its field, hostile values in every RPC`, async () => {
  const before = failureCount(c!.tally);
  await c!.structured(plan.structured);
  check('structured requests', before);
});

test('afterwards: berthd alive within its memory bound, the host unchanged, nothing left behind', async () => {
  finished = await c!.finish();
  check('final probe', 0);
  assert.deepEqual(finished.hostChanges, [], 'no change to mounts, sysctls, system directories or the canary');
  assert.ok(finished.peakRss < MAX_PEAK_RSS, `berthd peak RSS ${(finished.peakRss / 2 ** 20).toFixed(0)} MiB`);
  assert.deepEqual(finished.leftovers, []);
  assert.equal(finished.fixtureFailures, 0, 'the fuzzer could always remake its pod and container');
});
