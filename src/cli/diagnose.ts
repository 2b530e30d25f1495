// `berth diagnose`: one timestamped tar.gz with what an on-call engineer
// needs for a runtime incident. Every part is collected on its own and its
// failure recorded in summary.txt instead of stopping the rest, so a node
// whose berthd is down (or hung) still yields what the host can tell.
//
//   berth-diagnose-<host>-<UTC time>/
//     summary.txt, summary.json   reachability, each part's outcome
//     version.json                client and runtime versions
//     config/effective.json       the running daemon's configuration (Status)
//     config/local.json           the configuration file as berthd would load it
//     status.json                 CRI Status (verbose)
//     pods.json, pods.txt         pods and their verbose status
//     containers.json, containers.txt
//     logs/                       berthd's log: --log-file, its stderr file, the journal
//     runtime/<handler>/          `<runtime> --root <root> list` and `state` of each container
//     processes.txt, mounts.txt, cgroups/, cni/, disk.txt, network.txt, kernel/
//
// Secrets are redacted everywhere: registry passwords and tokens, and
// container environment values (verbose statuses of other runtimes carry
// the OCI spec, env included).
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { create as createTar } from 'tar';
import { DEFAULT_CONFIG_FILE, loadConfig, type Config } from '../config/config.js';
import { PACKAGE_VERSION } from '../util/package-info.js';
import { CriClient } from './client.js';
import { failureMessage, globals, parseInfo } from './common.js';
import { ago, table, truncId } from './format.js';
import {
  cgroups, filesOf, findBerthd, kernelMessages, mounts, processes, runHost, systemdBooted, tailFile,
} from './diagnose-host.js';

const SECRET_KEYS = /^(password|auth|identitytoken|registrytoken|token|secret|authorization)$/i;

/**
 * A deep copy with secrets replaced: credential fields, and the values of
 * environment variables (`KEY=value` strings or `{key, value}` pairs).
 */
export function redact(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) {
    if (/^envs?$/i.test(key)) {
      return v.map((e) => (typeof e === 'string' ? e.replace(/=.*/s, '=[redacted]')
        : e && typeof e === 'object' ? { ...(e as object), value: '[redacted]' } : e));
    }
    return v.map((x) => redact(x));
  }
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) =>
      [k, SECRET_KEYS.test(k) && typeof x === 'string' && x !== '' ? '[redacted]' : redact(x, k)]));
  }
  return v;
}

type Outcome = { part: string; status: 'ok' | 'skipped' | 'failed'; detail?: string };

class Bundle {
  readonly outcomes: Outcome[] = [];

  constructor(readonly dir: string) {}

  write(name: string, content: string | object): void {
    const path = join(this.dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(redact(content), null, 2) + '\n', { mode: 0o600 });
  }

  /** Runs one part; a failure is recorded and the rest goes on. */
  async part(name: string, fn: () => Promise<string | void> | string | void): Promise<void> {
    try {
      const detail = await fn();
      this.outcomes.push({ part: name, status: 'ok', ...(detail ? { detail } : {}) });
    } catch (err) {
      this.outcomes.push({ part: name, status: 'failed', detail: failureMessage(err) });
    }
  }

  skip(name: string, why: string): void {
    this.outcomes.push({ part: name, status: 'skipped', detail: why });
  }
}

/** `2026-01-02T03:04:05.678Z` → `20260102T030405Z`. */
export function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

interface Options {
  config: string;
  dest: string;
  logFile?: string;
  logLines: string;
  since: string;
  unit: string;
}

interface Pod { id: string; metadata: { name: string; namespace: string; attempt: number }; state: string; createdAt: string }
interface Ctr { id: string; podSandboxId: string; metadata: { name: string; attempt: number }; state: string; createdAt: string; image: { image: string } | null; imageRef: string }

/** Each item's verbose status; one that cannot be had (removed meanwhile) is noted, not fatal. */
async function verbose<T extends { id: string }>(items: T[], get: (item: T) => Promise<object>): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const item of items) out.push(await get(item).catch((err: unknown) => ({ id: item.id, error: failureMessage(err) })));
  return out;
}

async function collectCri(b: Bundle, client: CriClient): Promise<{ config?: Config; cgroupParents: string[] }> {
  let config: Config | undefined;
  const cgroupParents: string[] = [];
  await b.part('version', async () => {
    const v = await client.call('Version', { version: 'v1' });
    b.write('version.json', { client: PACKAGE_VERSION, runtime: v });
  });
  await b.part('status', async () => {
    const st = await client.call<{ status: unknown; info: Record<string, string>; runtimeHandlers: unknown; features: unknown }>('Status', { verbose: true });
    const info = parseInfo(st.info);
    b.write('status.json', { ...st, info });
    if (info.config && typeof info.config === 'object') {
      config = info.config as Config;
      b.write('config/effective.json', config);
    }
  });
  await b.part('pods', async () => {
    const pods = (await client.call<{ items: Pod[] }>('ListPodSandbox', {})).items ?? [];
    const statuses = await verbose(pods, async (p) => {
      const s = await client.call<{ info: Record<string, string> }>('PodSandboxStatus', { podSandboxId: p.id, verbose: true });
      const info = parseInfo(s.info);
      const own = (info.info as { cgroupParent?: string } | undefined)?.cgroupParent;
      if (own) cgroupParents.push(own);
      return { ...s, info };
    });
    b.write('pods.json', { items: pods, statuses });
    b.write('pods.txt', table(['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT'],
      pods.map((p) => [truncId(p.id, false), ago(p.createdAt), p.state.replace('SANDBOX_', ''), p.metadata?.name ?? '', p.metadata?.namespace ?? '', String(p.metadata?.attempt ?? '')])));
    return `${pods.length} pods`;
  });
  await b.part('containers', async () => {
    const ctrs = (await client.call<{ containers: Ctr[] }>('ListContainers', {})).containers ?? [];
    const statuses = await verbose(ctrs, async (c) => {
      const s = await client.call<{ info: Record<string, string> }>('ContainerStatus', { containerId: c.id, verbose: true });
      return { ...s, info: parseInfo(s.info) };
    });
    b.write('containers.json', { containers: ctrs, statuses });
    b.write('containers.txt', table(['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID'],
      ctrs.map((c) => [truncId(c.id, false), c.image?.image ?? c.imageRef, ago(c.createdAt), c.state.replace('CONTAINER_', ''), c.metadata?.name ?? '', String(c.metadata?.attempt ?? ''), truncId(c.podSandboxId, false)])));
    return `${ctrs.length} containers`;
  });
  return { config, cgroupParents };
}

async function collectLogs(b: Bundle, o: Options, daemons: ReturnType<typeof findBerthd>): Promise<void> {
  const lines = Number(o.logLines);
  const found: string[] = [];
  if (o.logFile) {
    await b.part('log file', () => {
      b.write('logs/berthd.log', tailFile(o.logFile!, lines));
      found.push(o.logFile!);
    });
  }
  // berthd logs JSON to stderr: where that is a file, the file is its log.
  // The daemon serving the endpoint, or, with none serving it, any there is.
  const serving = daemons.filter((d) => d.serves);
  for (const d of serving.length ? serving : daemons) {
    if (!d.stderr.startsWith('/') || d.stderr === o.logFile || d.stderr.startsWith('/dev/')) continue;
    await b.part(`stderr of berthd ${d.pid}`, () => {
      b.write(`logs/berthd-${d.pid}-stderr.log`, tailFile(d.stderr, lines));
      found.push(d.stderr);
    });
  }
  if (systemdBooted()) {
    await b.part('journal', async () => {
      const since = new Date(Date.now() - parseDuration(o.since) * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
      const r = await runHost('journalctl', ['-u', o.unit, '--no-pager', '-o', 'short-iso-precise', '--since', since, '-n', String(lines)]);
      if (r.code !== 0) throw new Error(`journalctl -u ${o.unit}: ${r.stderr.trim() || `exit ${r.code}`}`);
      b.write('logs/journal.txt', r.stdout);
      found.push(`journal of ${o.unit}`);
    });
  } else {
    b.skip('journal', 'systemd is not PID 1: no journal to read');
  }
  if (found.length === 0) {
    b.skip('berthd log', 'not found: berthd writes its JSON log to stderr; pass --log-file where that goes (a running berthd\'s stderr is found by itself when it is a file)');
  }
}

async function collectRuntime(b: Bundle, cfg: Config): Promise<number[]> {
  const pids: number[] = [];
  for (const [name, h] of Object.entries(cfg.runtime.handlers)) {
    await b.part(`runtime ${name}`, async () => {
      const list = await runHost(h.path, ['--root', h.root, 'list', '--format', 'json']);
      if (list.code !== 0) throw new Error(`${h.path} --root ${h.root} list: ${list.stderr.trim() || `exit ${list.code}`}`);
      b.write(`runtime/${name}/list.json`, list.stdout);
      const items = (JSON.parse(list.stdout || 'null') ?? []) as { id: string; pid: number; status: string }[];
      for (const c of items.slice(0, 1000)) {
        const st = await runHost(h.path, ['--root', h.root, 'state', c.id]);
        b.write(`runtime/${name}/${c.id}.state.json`, st.code === 0 ? st.stdout : `error: ${st.stderr}`);
        if (c.pid > 0 && c.status === 'running') pids.push(c.pid);
      }
      return `${items.length} containers under ${h.root}`;
    });
  }
  return pids;
}

async function collectHost(b: Bundle, cfg: Config, cgroupParents: string[], pids: number[]): Promise<void> {
  await b.part('processes', async () => b.write('processes.txt', await processes(cfg, pids)));
  await b.part('mounts', () => b.write('mounts.txt', mounts(cfg)));
  await b.part('cgroups', () => {
    const parents = [...new Set([cfg.runtime.cgroup_parent, ...cgroupParents])];
    const found = cgroups(parents);
    for (const [h, text] of found) b.write(`cgroups/${h}.txt`, text);
    // Where each container's process actually is, whichever parent it was given.
    let procs = '';
    for (const pid of pids) {
      try {
        procs += `== pid ${pid}\n${readFileSync(`/proc/${pid}/cgroup`, 'utf8')}`;
      } catch {
        procs += `== pid ${pid}: gone\n`;
      }
    }
    b.write('cgroups/container-processes.txt', procs);
    return `${found.size} hierarchies under ${parents.join(', ')}`;
  });
  await b.part('cni', () => {
    const conf = filesOf(cfg.network.cni_conf_dir);
    const cache = filesOf(cfg.network.cni_cache_dir);
    for (const [n, t] of conf) b.write(`cni/conf/${n}`, t);
    for (const [n, t] of cache) b.write(`cni/cache/${n}`, t);
    return `${conf.size} config files in ${cfg.network.cni_conf_dir}, ${cache.size} cache entries in ${cfg.network.cni_cache_dir}`;
  });
  await b.part('network', async () => {
    let text = '';
    for (const [cmd, args] of [['ip', ['-d', 'addr']], ['ip', ['route']], ['iptables-save', ['-t', 'nat']]] as const) {
      const r = await runHost(cmd, [...args]).catch((err: unknown) => ({ stdout: '', stderr: failureMessage(err), code: -1 }));
      text += `$ ${cmd} ${args.join(' ')}\n${r.stdout}${r.stderr}\n`;
    }
    b.write('network.txt', text);
  });
  await b.part('disk usage', async () => {
    const dirs = [cfg.daemon.root, cfg.daemon.state];
    let text = '';
    for (const args of [['-h', ...dirs], ['-i', ...dirs]]) {
      const r = await runHost('df', args);
      text += `$ df ${args.join(' ')}\n${r.stdout}${r.stderr}\n`;
    }
    for (const d of dirs) {
      const r = await runHost('du', ['-x', '-h', '-d', '2', d], 120_000);
      text += `$ du -x -h -d 2 ${d}\n${r.stdout}${r.stderr}\n`;
    }
    b.write('disk.txt', text);
  });
  await b.part('kernel messages', async () => {
    const k = await kernelMessages();
    b.write('kernel/oom-seccomp.txt', k.matched);
    b.write('kernel/dmesg-tail.txt', k.tail);
    return `${k.matched.split('\n').filter(Boolean).length} lines about OOM or seccomp`;
  });
}

/** `90`, `90s`, `15m`, `2h`, `1d` → seconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s.trim());
  if (!m) throw new Error(`"${s}" is not a duration such as 30m, 2h or 1d`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

function summaryText(at: Date, endpoint: string, reachable: string | undefined, daemons: ReturnType<typeof findBerthd>, outcomes: Outcome[]): string {
  const lines = [
    `berth diagnose ${PACKAGE_VERSION} on ${hostname()} (kernel ${release()}) at ${at.toISOString()}`,
    reachable === undefined ? `berthd: reachable at ${endpoint}` : `berthd: UNREACHABLE at ${endpoint}: ${reachable}`,
    daemons.length
      ? daemons.map((d) => `berthd process ${d.pid}${d.serves ? ' (serves this endpoint)' : ''}: ${d.args} (stderr: ${d.stderr})`).join('\n')
      : 'berthd process: none running',
    ...(daemons.some((d) => d.serves) ? [] : [`no berthd process holds ${endpoint.replace(/^unix:\/\//, '')}`]),
    '',
    ...outcomes.map((x) => `${x.status.padEnd(7)}  ${x.part}${x.detail ? `: ${x.detail}` : ''}`),
  ];
  return lines.join('\n') + '\n';
}

export async function diagnose(o: Options, endpointGiven: string | undefined, timeoutMs: number): Promise<{ file: string; summary: string; reachable: boolean }> {
  const at = new Date();
  const name = `berth-diagnose-${hostname().replace(/[^A-Za-z0-9.-]/g, '_')}-${stamp(at)}`;
  const dest = resolve(o.dest);
  mkdirSync(dest, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'berth-diagnose-'));
  try {
    const b = new Bundle(join(work, name));
    mkdirSync(b.dir, { mode: 0o700 });

    let local: Config | undefined;
    await b.part('config file', () => {
      local = loadConfig({ file: o.config, fileRequired: o.config !== DEFAULT_CONFIG_FILE });
      b.write('config/local.json', { file: o.config, config: local });
    });
    const endpoint = endpointGiven ?? `unix://${local?.daemon.listen ?? '/run/berth/berth.sock'}`;
    const daemons = findBerthd(endpoint.replace(/^unix:\/\//, ''));

    const client = new CriClient(endpoint, timeoutMs);
    let unreachable: string | undefined;
    let running: { config?: Config; cgroupParents: string[] } = { cgroupParents: [] };
    try {
      try {
        await client.call('Version', { version: 'v1' }, Math.min(timeoutMs, 5000));
      } catch (err) {
        unreachable = failureMessage(err);
      }
      if (unreachable === undefined) running = await collectCri(b, client);
      else {
        b.write('version.json', { client: PACKAGE_VERSION, runtime: null, unreachable });
        for (const p of ['status', 'pods', 'containers']) b.skip(p, `berthd unreachable at ${endpoint}`);
      }
    } finally {
      client.close();
    }
    // The daemon's own view of its configuration beats the file, which may have changed since it started.
    const cfg = running.config ?? local;
    await collectLogs(b, o, daemons);
    if (cfg) {
      const pids = await collectRuntime(b, cfg);
      await collectHost(b, cfg, running.cgroupParents, pids);
    } else {
      b.skip('host state', 'no configuration: neither the daemon nor the config file told where berth keeps its state');
    }

    const summary = summaryText(at, endpoint, unreachable, daemons, b.outcomes);
    b.write('summary.txt', summary);
    b.write('summary.json', { at: at.toISOString(), host: hostname(), client: PACKAGE_VERSION, endpoint, reachable: unreachable === undefined, unreachable, daemons, parts: b.outcomes });
    const file = join(dest, `${name}.tar.gz`);
    await createTar({ gzip: true, file, cwd: work, portable: true }, [name]);
    chmodSync(file, 0o600);
    return { file, summary, reachable: unreachable === undefined };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function registerDiagnoseCommand(program: Command): void {
  program
    .command('diagnose')
    .description('collect what a runtime incident needs (versions, config, status, pods, containers, logs, runtime state, processes, mounts, cgroups, CNI, disk, kernel messages) into a timestamped tar.gz; works with berthd down')
    .option('--config <file>', 'berthd config file (where its state is when the daemon cannot say)', DEFAULT_CONFIG_FILE)
    .option('-d, --dest <dir>', 'directory the bundle is written to', '.')
    .option('--log-file <path>', 'berthd\'s log file (wherever its stderr is sent)')
    .option('--log-lines <n>', 'most lines taken of each log', '5000')
    .option('--since <duration>', 'how far back the journal is read (30m, 2h, 1d)', '2h')
    .option('--unit <name>', 'berthd\'s systemd unit', 'berthd')
    .action(async (o: Options, cmd: Command) => {
      try {
        const g = globals(cmd);
        if (!(Number(o.logLines) > 0)) throw new Error('--log-lines must be a positive number');
        parseDuration(o.since);
        const r = await diagnose(o, g.endpointGiven ? g.runtimeEndpoint : undefined, g.timeout);
        process.stderr.write(r.summary);
        process.stdout.write(`${r.file}\n`);
      } catch (err) {
        process.stderr.write(`berth diagnose: ${failureMessage(err)}\n`);
        process.exitCode = 1;
      }
    });
}
