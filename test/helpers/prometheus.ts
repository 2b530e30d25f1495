// A real Prometheus (Debian's /usr/bin/prometheus) on loopback with its own
// temporary storage, scraping given targets every second and evaluating the
// given rule files every second.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, readFileSync, rmSync } from 'node:fs';
import { join, basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from './daemon.js';
import { freePort } from './registry.js';

export interface TestPrometheus {
  url: string;
  proc: ChildProcess;
  logs(): string;
  /** An instant query; the vector's samples as [labels, value]. */
  query(q: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  stop(): Promise<void>;
}

/** `job` is the scrape job's name: nothing of Berth's may depend on it. */
export async function startPrometheus(targets: string[], ruleFiles: string[], job = 'berth'): Promise<TestPrometheus> {
  const dir = tempDir('berth-prom-');
  const port = await freePort();
  // Rule groups are copied with a 1 s evaluation interval so a test sees values within seconds.
  const rules = ruleFiles.map((f) => {
    const out = join(dir, basename(f));
    writeFileSync(out, readFileSync(f, 'utf8').replace(/^(\s*)interval: \S+$/gm, '$1interval: 1s'));
    return out;
  });
  const cfg = [
    'global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', '  evaluation_interval: 1s',
    `rule_files: [${rules.map((r) => JSON.stringify(r)).join(', ')}]`,
    'scrape_configs:', `  - job_name: ${job}`, `    static_configs: [{ targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}] }]`,
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), `${cfg}\n`);
  const proc = spawn('/usr/bin/prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!killed) {
        proc.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited:\n${out}`);
    }
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready:\n${out}`);
    }
    await sleep(100);
  }
  return {
    url, proc, logs: () => out, stop,
    async query(q) {
      const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = await r.json() as { status: string; error?: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success') throw new Error(`query ${q}: ${body.error}`);
      return body.data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
    },
  };
}

/** berthd's /metrics text. */
export async function scrapeMetrics(address: string): Promise<string> {
  return (await fetch(`http://${address}/metrics`)).text();
}

/** The value of one series (`name{labels}` as exposed) in a scrape; NaN when absent. */
export function seriesValue(body: string, series: string): number {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : NaN;
}
