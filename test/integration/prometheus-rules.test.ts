// deploy/prometheus and deploy/grafana are checked here: promtool validates
// and unit-tests the rules and the sample scrape configuration, every PromQL
// expression (rules, dashboards and their variables) is parsed by promtool,
// and every metric it names must be one Berth exports. The dashboards are
// read the way Grafana's file provisioning reads them, and every alert has
// its runbook.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Metrics } from '../../src/metrics/metrics.js';
import { REPO_ROOT, startDaemon, tempDir } from '../helpers/daemon.js';
import { freePort } from '../helpers/registry.js';
import { startPrometheus } from '../helpers/prometheus.js';

const PROM = join(REPO_ROOT, 'deploy/prometheus');
const GRAFANA = join(REPO_ROOT, 'deploy/grafana');

interface RuleFile { groups: { name: string; rules: { record?: string; alert?: string; expr: string; annotations?: Record<string, string> }[] }[] }
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

interface Target { refId: string; expr: string; datasource?: unknown }
interface Panel { id: number; type: string; title: string; datasource?: unknown; gridPos?: Record<string, number>; targets?: Target[]; panels?: Panel[] }
interface Variable { name: string; type: string; query?: unknown; datasource?: unknown; definition?: string }
interface Dashboard { uid?: unknown; title?: unknown; id?: unknown; schemaVersion?: unknown; templating?: { list?: Variable[] }; panels?: Panel[] }

/**
 * The dashboards as Grafana's file provisioning finds them: every `.json`
 * file under the provider's folder, subfolders included, folders whose name
 * starts with a dot skipped.
 */
function provisionedFiles(dir = GRAFANA): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return e.name.startsWith('.') ? [] : provisionedFiles(join(dir, e.name));
    return e.name.endsWith('.json') ? [join(dir, e.name)] : [];
  }).sort();
}

function dashboards(): { file: string; d: Dashboard }[] {
  return provisionedFiles().map((f) => ({ file: f.slice(GRAFANA.length + 1), d: JSON.parse(readFileSync(f, 'utf8')) as Dashboard }));
}

/** Panels, rows' panels included. */
function panelsOf(d: Dashboard): Panel[] {
  return (d.panels ?? []).flatMap((p) => (p.type === 'row' ? p.panels ?? [] : [p]));
}

/** Every expr of the dashboards, and the query of each query variable, with where it is for messages. */
function dashboardExprs(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const all = dashboards();
  assert.deepEqual(all.map((x) => x.file), ['debug.json', 'executive.json', 'oncall.json']);
  for (const { file, d } of all) {
    assert.ok(panelsOf(d).length > 0, `${file} has panels`);
    for (const p of panelsOf(d)) for (const t of p.targets ?? []) out.push({ where: `${file}: ${p.title}`, expr: t.expr });
    for (const v of d.templating?.list ?? []) {
      const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
      const m = q ? /^label_values\((.+),\s*\w+\)$/.exec(q) : null;
      if (m) out.push({ where: `${file}: variable ${v.name}`, expr: m[1]! });
    }
  }
  return out;
}

/** A dashboard query as plain PromQL: template variables in matchers match anything, Grafana's intervals are 5m. */
function withoutVariables(expr: string): string {
  return expr.replace(/\$__(rate_)?interval|\$__range/g, '5m').replace(/\$\{?\w+\}?/g, '.+');
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
    const scratch = { groups: [{ name: 'dashboards', rules: exprs.map((e, i) => ({ record: `dashboard:q${i}`, expr: withoutVariables(e.expr) })) }] };
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

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

test('the dashboards provision: found and parsed as Grafana\'s file provider does, every panel on the datasource variable, every query on the job and node selection', () => {
  // The provider configuration, as Grafana's config reader takes it: *.yaml and *.yml of the folder, apiVersion 1.
  const provDir = join(GRAFANA, 'provisioning', 'dashboards');
  const providers = readdirSync(provDir).filter((f) => /\.ya?ml$/.test(f))
    .flatMap((f) => (parse(readFileSync(join(provDir, f), 'utf8')) as { apiVersion: number; providers: { name: string; type?: string; options: { path: string } }[] }).providers
      .map((p) => ({ ...p, apiVersion: (parse(readFileSync(join(provDir, f), 'utf8')) as { apiVersion: number }).apiVersion })));
  assert.equal(providers.length, 1);
  assert.equal(providers[0]!.apiVersion, 1);
  assert.equal(providers[0]!.type ?? 'file', 'file');
  assert.match(providers[0]!.options.path, /^\//);
  const ds = parse(readFileSync(join(GRAFANA, 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as { apiVersion: number; datasources: { type: string }[] };
  assert.equal(ds.apiVersion, 1);
  assert.equal(ds.datasources[0]!.type, 'prometheus');

  const uids = new Set<string>();
  const titles = new Set<string>();
  for (const { file, d } of dashboards()) {
    const text = readFileSync(join(GRAFANA, file), 'utf8');
    // Provisioning does not substitute an import's inputs: such a reference would stay unresolved.
    assert.ok(!('__inputs' in d) && !('__requires' in d), `${file}: no import-only sections`);
    assert.ok(!/\$\{DS_/.test(text), `${file}: no \${DS_…} data source references`);
    assert.ok(typeof d.title === 'string' && d.title.length > 0, `${file}: a title`);
    assert.match(String(d.uid), /^[A-Za-z0-9_-]{1,40}$/, `${file}: a uid Grafana accepts`);
    assert.ok(!uids.has(d.uid as string) && !titles.has(d.title), `${file}: uid and title unique among the provisioned`);
    uids.add(d.uid as string);
    titles.add(d.title);
    assert.ok(d.id === undefined || d.id === null, `${file}: no fixed database id`);
    assert.equal(typeof d.schemaVersion, 'number', `${file}: schemaVersion`);

    const vars = d.templating?.list ?? [];
    assert.ok(Array.isArray(d.templating?.list), `${file}: templating.list`);
    const dsVar = vars.find((v) => v.name === 'datasource');
    assert.deepEqual(dsVar && { type: dsVar.type, query: dsVar.query }, { type: 'datasource', query: 'prometheus' }, `${file}: a Prometheus datasource variable`);
    for (const name of ['job', 'instance']) {
      const v = vars.find((x) => x.name === name);
      assert.equal(v?.type, 'query', `${file}: variable ${name}`);
      assert.deepEqual(v!.datasource, DATASOURCE, `${file}: variable ${name} queries the chosen datasource`);
    }
    for (const v of vars.filter((x) => x.type === 'query')) assert.deepEqual(v.datasource, DATASOURCE, `${file}: variable ${v.name}`);

    const ids = new Set<number>();
    for (const p of panelsOf(d)) {
      const where = `${file}: ${p.title}`;
      assert.ok(!ids.has(p.id), `${where}: unique panel id`);
      ids.add(p.id);
      assert.deepEqual(p.datasource, DATASOURCE, `${where}: panel datasource is the variable`);
      for (const k of ['x', 'y', 'w', 'h']) assert.equal(typeof p.gridPos?.[k], 'number', `${where}: gridPos.${k}`);
      assert.ok((p.targets ?? []).length > 0, `${where}: queries`);
      const refIds = new Set<string>();
      for (const t of p.targets!) {
        assert.ok(t.refId && !refIds.has(t.refId), `${where}: unique refId`);
        refIds.add(t.refId);
        assert.deepEqual(t.datasource, DATASOURCE, `${where} ${t.refId}: query datasource is the variable`);
        assert.doesNotMatch(t.expr, /\bjob\s*=\s*"/, `${where}: no hard-coded job`);
        // Every series the query selects is narrowed to the chosen jobs and nodes.
        for (const name of metricNames(withoutVariables(t.expr))) {
          const uses = [...t.expr.matchAll(new RegExp(`(?<![A-Za-z0-9_:])${name}(?![A-Za-z0-9_:])(\\{[^}]*\\})?`, 'g'))];
          for (const u of uses) {
            assert.ok(u[1]?.includes('job=~"$job"') && u[1].includes('instance=~"$instance"'), `${where}: ${name} without the job and node selection in ${t.expr}`);
          }
        }
      }
    }
  }
});

test('every alert links its runbook, and every runbook says how to confirm and mitigate with berth', () => {
  const alerts = rules.groups.flatMap((g) => g.rules.filter((r) => r.alert));
  assert.ok(alerts.length >= 5);
  const dir = join(REPO_ROOT, 'docs/runbooks');
  const index = readFileSync(join(dir, 'README.md'), 'utf8');
  for (const a of alerts) {
    const name = a.alert!;
    assert.equal(a.annotations?.runbook_url, `{{ with $externalLabels.berth_runbooks_url }}{{ . }}{{ else }}docs/runbooks{{ end }}/${name}.md`, `${name}: runbook_url`);
    const page = join(dir, `${name}.md`);
    assert.ok(existsSync(page), `${name}: docs/runbooks/${name}.md`);
    const text = readFileSync(page, 'utf8');
    assert.match(text, new RegExp(`^# ${name}\n`), `${name}: titled`);
    for (const section of ['Meaning', 'Confirm', 'Mitigate', 'Escalate']) assert.match(text, new RegExp(`^## ${section}$`, 'm'), `${name}: ${section}`);
    const confirm = text.slice(text.indexOf('## Confirm'), text.indexOf('## Mitigate'));
    assert.match(confirm, /^berth \S+/m, `${name}: berth commands to confirm`);
    assert.ok(index.includes(`[${name}.md](${name}.md)`), `${name}: listed in docs/runbooks/README.md`);
  }
  const pages = readdirSync(dir).filter((f) => f !== 'README.md').map((f) => f.replace(/\.md$/, '')).sort();
  assert.deepEqual(pages, alerts.map((a) => a.alert!).sort(), 'a page for each alert and none for an alert that does not exist');
});

test('the sample scrape configuration is valid and loads the rules', () => {
  assert.match(promtool(['check', 'config', 'prometheus.yml']), /SUCCESS: prometheus\.yml is valid/);
  const cfg = parse(readFileSync(join(PROM, 'prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
  assert.deepEqual(cfg.rule_files, ['berth-rules.yml']);
  assert.ok(cfg.scrape_configs.some((j) => j.static_configs.some((s) => s.targets.some((t) => t.endsWith(':9847')))), 'scrapes berthd\'s default metrics port');
});

test('every dashboard query runs on a real Prometheus scraping berthd under a job of another name, and the node selection narrows each one', async () => {
  const address = `127.0.0.1:${await freePort()}`;
  const d = await startDaemon({ metrics: address });
  // A CRI call, so the per-method series exist before the scrapes.
  await d.client.call('Version', {});
  let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;
  try {
    prom = await startPrometheus([address], [join(PROM, 'berth-rules.yml')], 'node-runtime');
    // Enough scrapes for rate() over 5m windows to have two samples.
    const deadline = Date.now() + 60_000;
    while (((await prom.query('count_over_time(berth_daemon_uptime_seconds{job="node-runtime"}[5m])'))[0]?.value ?? 0) < 3) {
      assert.ok(Date.now() < deadline, 'Prometheus never scraped berthd three times');
      await new Promise((r) => setTimeout(r, 250));
    }
    // What Grafana asks for label_values(berth_daemon_start_time_seconds, job) over the dashboard's time range.
    const range = `start=${Math.floor(Date.now() / 1000) - 3600}&end=${Math.ceil(Date.now() / 1000)}`;
    const jobs = await (await fetch(`${prom.url}/api/v1/label/job/values?match[]=berth_daemon_start_time_seconds&${range}`)).json() as { data: string[] };
    assert.deepEqual(jobs.data, ['node-runtime'], 'the job variable offers the job that exports berthd\'s metrics');
    const fill = (expr: string, instance: string): string => expr.replace(/\$job\b/g, 'node-runtime').replace(/\$instance\b/g, instance);
    const answered = new Map<string, number>();
    // The panels' queries (the variables' own queries list every job and node by design).
    for (const { where, expr } of dashboardExprs().filter((e) => !e.where.includes(': variable '))) {
      const mine = await prom.query(fill(expr, address));
      answered.set(where, (answered.get(where) ?? 0) + mine.length);
      assert.deepEqual(await prom.query(fill(expr, 'no-such-node:1')), [], `${where}: another node's selection must leave nothing of this one: ${expr}`);
    }
    // Panels on series berthd always exports show this node.
    for (const where of ['executive.json: Runtime up', 'executive.json: Uptime', 'debug.json: berthd memory', 'debug.json: CRI calls by method', 'oncall.json: Image filesystem free']) {
      assert.ok((answered.get(where) ?? 0) > 0, `${where} shows the node`);
    }
  } finally {
    await prom?.stop();
    await d.stop();
    d.cleanup();
  }
});
