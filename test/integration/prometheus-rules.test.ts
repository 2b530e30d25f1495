// deploy/prometheus and deploy/grafana are checked here: promtool validates
// and unit-tests the rules, every PromQL expression (rules and dashboards) is
// parsed by promtool, and every metric it names must be one Berth exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Metrics } from '../../src/metrics/metrics.js';
import { REPO_ROOT, tempDir } from '../helpers/daemon.js';

const PROM = join(REPO_ROOT, 'deploy/prometheus');
const GRAFANA = join(REPO_ROOT, 'deploy/grafana');

interface RuleFile { groups: { name: string; rules: { record?: string; alert?: string; expr: string }[] }[] }
const rules = parse(readFileSync(join(PROM, 'berth-rules.yml'), 'utf8')) as RuleFile;

function promtool(args: string[], cwd = PROM): string {
  try {
    return execFileSync('promtool', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
  }
}

test('promtool check rules and promtool test rules pass', () => {
  assert.match(promtool(['check', 'rules', 'berth-rules.yml']), /SUCCESS/);
  assert.match(promtool(['test', 'rules', 'berth-rules.test.yml']), /SUCCESS/);
});

/** Every expr of the three dashboards, with its dashboard and panel for messages. */
function dashboardExprs(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const files = readdirSync(GRAFANA).filter((f) => f.endsWith('.json')).sort();
  assert.deepEqual(files, ['debug.json', 'executive.json', 'oncall.json']);
  for (const f of files) {
    const d = JSON.parse(readFileSync(join(GRAFANA, f), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    assert.ok(d.panels.length > 0, `${f} has panels`);
    for (const p of d.panels) for (const t of p.targets) out.push({ where: `${f}: ${p.title}`, expr: t.expr });
  }
  return out;
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan', 'Inf', 'NaN', 'le']);

/** Metric names an expression selects: identifiers outside strings, matchers, label lists and function calls. */
function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '');
  const names = new Set<string>();
  const re = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const after = s.slice(m.index + m[0].length).trimStart();
    const before = s[m.index - 1] ?? '';
    if (after.startsWith('(') || KEYWORDS.has(m[0]) || /[0-9.]/.test(before)) continue;
    names.add(m[0]);
  }
  return [...names];
}

async function exported(): Promise<Set<string>> {
  const out = new Set<string>();
  for (const m of await new Metrics().registry.getMetricsAsJSON()) {
    out.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(m.name + s);
  }
  return out;
}

test('every expression in the rules and dashboards parses and names only metrics Berth exports', async () => {
  assert.deepEqual(metricNames('sum by (le) (rate(berth_x_bucket{a="b"}[5m])) / on (job) berth:y:ratio > 14.4 * 0.005'), ['berth_x_bucket', 'berth:y:ratio']);
  const known = await exported();
  const recorded = new Set(rules.groups.flatMap((g) => g.rules.filter((r) => r.record).map((r) => r.record!)));
  const exprs = [
    ...rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `rules: ${r.record ?? r.alert}`, expr: r.expr }))),
    ...dashboardExprs(),
  ];
  // promtool parses the dashboard queries with Prometheus's own parser, as recording rules of a scratch file.
  const dir = tempDir('berth-dash-');
  try {
    const scratch = { groups: [{ name: 'dashboards', rules: exprs.map((e, i) => ({ record: `dashboard:q${i}`, expr: e.expr.replace(/\$instance/g, '.*') })) }] };
    writeFileSync(join(dir, 'dash.yml'), JSON.stringify(scratch));
    assert.match(promtool(['check', 'rules', join(dir, 'dash.yml')]), /SUCCESS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const unknown: string[] = [];
  let berthRefs = 0;
  for (const { where, expr } of exprs) {
    for (const name of metricNames(expr)) {
      if (name === 'up') continue;
      if (name.startsWith('berth_')) {
        berthRefs++;
        if (!known.has(name)) unknown.push(`${where}: ${name}`);
      } else if (name.startsWith('berth:')) {
        if (!recorded.has(name)) unknown.push(`${where}: ${name} (no such recording rule)`);
      } else {
        unknown.push(`${where}: ${name} (not a Berth metric)`);
      }
    }
  }
  assert.deepEqual(unknown, []);
  assert.ok(berthRefs > 40, `dashboards and rules reference berth metrics (${berthRefs})`);
});
