// `berth slo`: the node's SLIs against their targets, read from berthd's
// metrics endpoint without a Prometheus server.
//
// How the window works: counters are cumulative, so an SLI over a window is
// (now - reading at window start). Each run stores its reading (the SLI series
// only) in a snapshot file, and measures against the newest stored reading at
// least `window` old (or the oldest there is, and says the window is short).
// Without any stored reading it measures since berthd started (its counters
// start at zero then). `--sample N` instead reads twice, N seconds apart.
// An SLI with fewer events than --min-events in the window gets no verdict:
// one failed start out of two is noise, not a breached 99.5 % SLO.
// Exit status: 0 no SLO breached (or no traffic), 2 an SLO is breached, 1 error.
import type { Command } from 'commander';
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { homedir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, DEFAULT_CONFIG_FILE } from '../config/config.js';
import { parseExposition } from '../metrics/exposition.js';
import { evaluate, pickBaseline, type Reading, type SliResult, type SloReport } from '../metrics/slo.js';
import { renderStructured } from './common.js';

const KEEP = /^berth_(container_start_|container_restarts_total|image_pull_(attempts|successes|failures)_total|sandbox_create_|daemon_start_time_seconds)/;
const MAX_STORED = 500;
export const DEFAULT_MIN_EVENTS = 20;

export async function readMetrics(address: string, timeoutMs = 5000): Promise<Reading> {
  const url = address.includes('://') ? address : `http://${address}/metrics`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is its cause.
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000}s` : e.cause?.code ?? e.cause?.message ?? e.message;
    throw new Error(`cannot reach berthd's metrics endpoint ${url}: ${why} (is berthd running, with [metrics] address = "${address}"?)`, { cause: err });
  }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const samples = parseExposition(await res.text()).filter((s) => KEEP.test(s.name));
  if (!samples.some((s) => s.name === 'berth_daemon_start_time_seconds')) throw new Error(`${url} does not look like berthd's metrics endpoint`);
  return { at: Date.now() / 1000, samples };
}

function defaultSnapshotFile(address: string): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'berth', `slo-${address.replace(/[^a-zA-Z0-9.-]/g, '_')}.json`);
}

function loadReadings(file: string): Reading[] {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { readings?: Reading[] };
    return Array.isArray(v.readings) ? v.readings : [];
  } catch {
    return [];
  }
}

/** Keeps readings young enough to serve as a baseline, thinned so the file stays small. */
function storeReadings(file: string, readings: Reading[], nowAt: number, windowSeconds: number): void {
  let keep = readings.filter((r) => r.at >= nowAt - 2 * windowSeconds).sort((a, b) => a.at - b.at);
  // Thin the older half when too many accumulate (frequent cron runs).
  while (keep.length > MAX_STORED) keep = keep.filter((_r, i) => i >= keep.length / 2 || i % 2 === 0);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify({ readings: keep }));
  renameSync(tmp, file);
}

function fmt(v: number | undefined, unit: string): string {
  if (v === undefined) return '-';
  if (unit === 'ratio') return `${(v * 100).toFixed(3)}%`;
  if (unit === 'seconds') return `${v.toFixed(3)}s`;
  return String(v);
}

export interface JudgedSli extends SliResult {
  /** Measured, but on fewer events than the minimum: no verdict. */
  tooFewEvents?: boolean;
}

export interface JudgedReport extends SloReport {
  minEvents: number;
  results: JudgedSli[];
}

/** Takes the verdict away from SLIs measured on fewer than `minEvents` events. */
export function requireMinEvents(r: SloReport, minEvents: number): JudgedReport {
  const results = r.results.map((x): JudgedSli =>
    x.kind !== 'info' && x.value !== undefined && x.events < minEvents ? { ...x, breached: false, tooFewEvents: true } : x);
  return { ...r, minEvents, results, breached: results.some((x) => x.breached) };
}

export function renderReport(r: JudgedReport, windowSeconds: number): string {
  const rows = [['SLI', 'VALUE', 'TARGET', 'EVENTS', 'STATUS']];
  for (const x of r.results) {
    const target = x.target === undefined ? '-' : `${x.kind === 'min' ? '>=' : '<='} ${fmt(x.target, x.unit)}`;
    const status = x.kind === 'info' ? 'info' : x.value === undefined ? 'no data'
      : x.tooFewEvents ? `no verdict (< ${r.minEvents} events)` : x.breached ? 'BREACHED' : 'ok';
    rows.push([x.name, fmt(x.value, x.unit), target, String(x.events), status]);
  }
  const widths = rows[0]!.map((_c, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = [`window: ${windowSeconds}s (covered: ${Math.round(r.coveredSeconds)}s)${r.note ? `; ${r.note}` : ''}`];
  for (const row of rows) lines.push(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const undecided = r.results.filter((x) => x.tooFewEvents).map((x) => x.name);
  if (r.breached) lines.push('SLO BREACHED');
  else if (undecided.length) lines.push(`no SLO breached; too few events for a verdict on: ${undecided.join(', ')} (--min-events ${r.minEvents})`);
  else lines.push('all SLOs met');
  return `${lines.join('\n')}\n`;
}

export function registerSloCommand(program: Command): void {
  program
    .command('slo')
    .description('print the node\'s SLIs (container start, image pull) against their targets from berthd\'s metrics; exit 2 when an SLO is breached')
    .option('--config <file>', 'berthd config file with [metrics] address, slo_window and slo_* targets', DEFAULT_CONFIG_FILE)
    .option('--metrics-address <host:port>', 'berthd metrics endpoint (default: [metrics] address of the config)')
    .option('--window <seconds>', 'window to evaluate (default: [metrics] slo_window)')
    .option('--sample <seconds>', 'read twice, this many seconds apart, and evaluate that interval (no snapshot file)')
    .option('--snapshot-file <file>', 'where readings are kept between runs (default under $XDG_STATE_HOME/berth)')
    .option('--no-store', 'do not store this reading')
    .option('--min-events <n>', 'fewest events in the window an SLI needs for a verdict', String(DEFAULT_MIN_EVENTS))
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (o: { config: string; metricsAddress?: string; window?: string; sample?: string; snapshotFile?: string; store: boolean; minEvents: string; output: string }) => {
      try {
        if (!['table', 'json', 'yaml'].includes(o.output)) throw new Error(`unsupported output format "${o.output}" (one of: table, json, yaml)`);
        const minEvents = Number(o.minEvents);
        if (!Number.isInteger(minEvents) || minEvents < 1) throw new Error('--min-events must be a positive integer');
        const cfg = loadConfig({ file: o.config, fileRequired: o.config !== DEFAULT_CONFIG_FILE });
        const address = o.metricsAddress ?? cfg.metrics.address;
        if (!address) throw new Error('the metrics endpoint is off ([metrics] address is empty); pass --metrics-address');
        const windowSeconds = o.window ? Number(o.window) : cfg.metrics.slo_window;
        if (!(windowSeconds > 0)) throw new Error('--window must be a positive number of seconds');
        const targets = {
          startSuccess: Number(cfg.metrics.slo_start_success),
          startLatencyP95: cfg.metrics.slo_start_latency_p95,
          pullSuccess: Number(cfg.metrics.slo_pull_success),
        };
        let report: SloReport;
        let shownWindow = windowSeconds;
        if (o.sample) {
          const first = await readMetrics(address);
          await sleep(Number(o.sample) * 1000);
          const now = await readMetrics(address);
          shownWindow = Number(o.sample);
          report = evaluate(now, first, targets, shownWindow);
        } else {
          const file = o.snapshotFile ?? defaultSnapshotFile(address);
          const stored = loadReadings(file);
          const now = await readMetrics(address);
          report = evaluate(now, pickBaseline(stored, now.at, windowSeconds), targets, windowSeconds);
          if (o.store) storeReadings(file, [...stored, now], now.at, windowSeconds);
        }
        const judged = requireMinEvents(report, minEvents);
        if (o.output === 'table') process.stdout.write(renderReport(judged, shownWindow));
        else process.stdout.write(renderStructured({ windowSeconds: shownWindow, ...judged }, o.output as 'json' | 'yaml'));
        process.exitCode = judged.breached ? 2 : 0;
      } catch (err) {
        process.stderr.write(`berth slo: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      }
    });
}

