// Exec round trip: `true` in a running busybox container, from the Exec call
// to the exit status on the client, over SPDY/3.1 and over WebSocket (v5),
// beside ExecSync of the same command, interleaved in one run. Also the bare
// `runc exec` floor measured from this process. Target: Exec p50 within 30 ms
// of ExecSync. Run: `node dist/bench/exec.js [rounds]`.
import { spawnSync } from 'node:child_process';
import { startPodDaemon, podFixture, runPod, runContainer } from '../test/helpers/pods.js';
import { spdyCommand } from '../test/helpers/spdy-client.js';
import { wsCommand } from '../test/helpers/ws-client.js';
import { printTable, summarize, timeMs, fmt } from './lib.js';

const rounds = Number(process.argv[2] ?? 50);

const fx = await podFixture();
const d = await startPodDaemon(fx.image);
try {
  const pod = await runPod(d);
  const id = await runContainer(d, pod, fx.image, { command: ['sleep', '100000'] });
  const execUrl = async (): Promise<string> =>
    (await d.client.call<{ url: string }>('Exec', { containerId: id, cmd: ['true'], stdout: true })).url;
  const samples: Record<string, number[]> = { sync: [], spdy: [], ws: [], runc: [] };
  const runcRoot = `${d.state}/runtime/runc`;
  const once = {
    sync: async () => {
      const r = await d.client.call<{ exitCode: number }>('ExecSync', { containerId: id, cmd: ['true'], timeout: 10 });
      if (r.exitCode !== 0) throw new Error('ExecSync failed');
    },
    spdy: async () => {
      const r = await spdyCommand(await execUrl(), {});
      if (!r.error.includes('Success')) throw new Error(`SPDY exec failed: ${r.error}`);
    },
    ws: async () => {
      const r = await wsCommand(await execUrl(), {});
      if (!r.error.includes('Success')) throw new Error(`WebSocket exec failed: ${r.error}`);
    },
    runc: async () => {
      const r = spawnSync('runc', ['--root', runcRoot, 'exec', id, 'true']);
      if (r.status !== 0) throw new Error(`runc exec failed: ${r.stderr}`);
    },
  };
  // Warm up every path once.
  for (const f of Object.values(once)) await f();
  for (let i = 0; i < rounds; i++) {
    for (const [name, f] of Object.entries(once)) samples[name]!.push(await timeMs(f));
  }
  const rows: [string, ReturnType<typeof summarize>][] = [
    ['ExecSync `true`', summarize(samples.sync!)],
    ['Exec `true` over SPDY/3.1 (v4)', summarize(samples.spdy!)],
    ['Exec `true` over WebSocket (v5)', summarize(samples.ws!)],
    ['runc exec `true` (floor, no CRI)', summarize(samples.runc!)],
  ];
  printTable(`exec round trip, ${rounds} rounds interleaved (ratio vs ExecSync)`, rows);
  const base = summarize(samples.sync!).p50;
  for (const [name, s] of rows.slice(1, 3)) {
    const diff = s.p50 - base;
    console.log(`  ${name}: p50 ${fmt(diff)} ms over ExecSync (target ≤ 30 ms): ${diff <= 30 ? 'met' : 'MISSED'}`);
  }
} finally {
  for (const p of (await d.client.call<{ items: { id: string }[] }>('ListPodSandbox', {})).items) {
    await d.client.call('RemovePodSandbox', { podSandboxId: p.id });
  }
  await d.stop();
  d.cleanup();
  await fx.close();
}
