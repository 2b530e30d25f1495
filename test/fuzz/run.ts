// A long fuzzing run by hand:
//
//   node dist/test/fuzz/run.js [requests]     (default 100000, or BERTH_FUZZ_REQUESTS)
//
// BERTH_FUZZ_SEED replays a run; BERTH_FUZZ_CONCURRENCY sets requests in
// flight. Three quarters of the requests are raw bodies, the rest structured
// (every invalid case once, then hostile values in random fields). Prints
// the tally, host changes and berthd's peak memory; exits 1 on any failure.
import { Campaign, failureCount, summary } from './campaign.js';
import { fuzzPlan } from './plan.js';

const requests = Number(process.argv[2] ?? process.env.BERTH_FUZZ_REQUESTS ?? 100_000);
const plan = fuzzPlan(requests);
const started = Date.now();
const c = await Campaign.start({ seed: plan.seed, concurrency: plan.concurrency, log: (l) => console.log(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${l}`) });
console.log(`seed ${plan.seed}: ${plan.raw} raw and ${plan.structured} structured requests (${c.invalidCaseCount()} invalid cases), ${plan.concurrency} in flight`);
let end;
try {
  await c.raw(plan.raw);
  console.log(`raw done: ${summary(c.tally)}`);
  await c.structured(plan.structured);
} finally {
  end = await c.finish();
}
const secs = (Date.now() - started) / 1000;
console.log(`\n${summary(c.tally)}`);
console.log(`host changes: ${end.hostChanges.length}${end.hostChanges.map((l) => `\n  ${l}`).join('')}`);
console.log(`left behind: ${end.leftovers.length}${end.leftovers.map((l) => `\n  ${l}`).join('')}`);
console.log(`berthd peak RSS ${(end.peakRss / 2 ** 20).toFixed(0)} MiB; ${secs.toFixed(0)} s, ${(c.tally.requests / secs).toFixed(0)} requests/s; seed ${plan.seed}`);
for (const f of c.tally.failures) console.log(`  ${f}`);
process.exit(failureCount(c.tally) + end.hostChanges.length + end.leftovers.length > 0 ? 1 : 0);
