// Long chaos runs from the command line: `node dist/test/chaos/run.js [rounds] [workers]`.
// Prints per-invariant counts; exits 1 when any invariant was broken.
import { runChaos, formatReport } from './chaos.js';

const rounds = Number(process.argv[2] ?? 100);
const workers = Number(process.argv[3] ?? 3);
const report = await runChaos({ rounds, workers, log: (l) => console.log(l) });
console.log(formatReport(report));
process.exit(Object.values(report.counts).some((n) => n > 0) ? 1 : 0);
