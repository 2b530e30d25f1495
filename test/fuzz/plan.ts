// How a number of fuzzed requests is split, and the knobs read from the environment.
import { randomInt } from 'node:crypto';

export interface FuzzPlan {
  seed: number;
  concurrency: number;
  raw: number;
  structured: number;
}

export function fuzzPlan(requests: number): FuzzPlan {
  const seed = Number(process.env.BERTH_FUZZ_SEED ?? randomInt(2 ** 31));
  const concurrency = Number(process.env.BERTH_FUZZ_CONCURRENCY ?? 8);
  const structured = Math.max(Math.round(requests / 4), Math.min(requests, 1500));
  return { seed, concurrency, raw: requests - structured, structured };
}
