// Container logs are bounded (runtime.log_size_max, conmon's --log-size-max)
// and, for a container created without a log path, on disk under the root
// rather than in the state tmpfs. Sizes are read on the host while the
// containers write without end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { podSuite, runPod, runContainer, status, type PodFixture, type PodDaemon } from '../helpers/pods.js';

const LIMIT = 16384;

let d: PodDaemon;
let fx: PodFixture;
podSuite({ toml: `log_size_max = ${LIMIT}\n` }, (f, daemon) => {
  fx = f;
  d = daemon;
});

/** Numbered lines, as fast as the shell goes. */
const WRITER = ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo "line $i"; done'];
const CRI_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d stdout F line (\d+)$/;

/** The number on the first whole line of a log (0 while it holds none). */
function firstLine(file: string): number {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  // Only a line whose newline is written is whole.
  const end = text.indexOf('\n');
  if (end < 0) return 0;
  const m = CRI_LINE.exec(text.slice(0, end));
  if (!m) assert.fail(`the log starts with a whole CRI line: ${JSON.stringify(text.slice(0, Math.min(end, 120)))}`);
  return Number(m[1]);
}

test('a container writing without end never grows its log past runtime.log_size_max, with and without log_path; without, the log is on the root', async () => {
  const logDir = join(d.dir, 'logs', 'bounded');
  const pod = await runPod(d, { logDirectory: logDir });
  const withPath = await runContainer(d, pod, fx.image, { command: WRITER, logPath: 'w.log' });
  const without = await runContainer(d, pod, fx.image, { command: WRITER });
  const files = { withPath: join(logDir, 'w.log'), without: join(d.root, 'containers', without, 'console.log') };
  assert.equal((await status(d, without)).logPath, '', 'CRI shows the log path the request gave: none');
  assert.ok(!existsSync(join(d.state, 'containers', without, 'console.log')), 'nothing logged on the state tmpfs');

  // Sampled over a few seconds and on until each log was emptied at least
  // once: its first line is then no longer line 1.
  const largest = { withPath: 0, without: 0 };
  let samples = 0;
  // Only against a hang: on this machine the limit is reached within a second.
  const deadline = Date.now() + 120_000;
  for (;;) {
    for (const [k, f] of Object.entries(files) as [keyof typeof files, string][]) {
      const size = existsSync(f) ? statSync(f).size : 0;
      assert.ok(size <= LIMIT, `${k}: ${f} holds ${size} bytes, more than ${LIMIT}`);
      largest[k] = Math.max(largest[k], size);
    }
    samples++;
    if (samples >= 30 && firstLine(files.withPath) > 1 && firstLine(files.without) > 1) break;
    if (Date.now() > deadline) assert.fail(`the logs were never emptied at the limit: first lines ${firstLine(files.withPath)}, ${firstLine(files.without)}`);
    await sleep(100);
  }
  assert.ok(largest.withPath > 0 && largest.without > 0, `both logs were written: ${JSON.stringify(largest)}`);

  await d.client.call('RemoveContainer', { containerId: without });
  assert.ok(!existsSync(files.without), 'RemoveContainer removes the log it kept on the root');
  assert.ok(!existsSync(join(d.root, 'containers', without)));
  await d.client.call('RemoveContainer', { containerId: withPath });
  assert.ok(existsSync(files.withPath), 'a log under the pod\'s log directory is kubelet\'s to remove');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('what the limit does, exactly: conmon counts what it wrote since it started, across ReopenContainerLog, and empties the file in use when the next line would pass the limit', async () => {
  const logDir = join(d.dir, 'logs', 'count');
  const trigger = join(d.dir, 'trigger');
  mkdirSync(trigger, { recursive: true });
  const pod = await runPod(d, { logDirectory: logDir });
  // 20 numbered lines each time the test asks (a file in /t), so the test
  // rotates between batches and no single file nears the limit.
  const pad = 'x'.repeat(60);
  const writer = `i=0; while :; do if [ -e /t/go ]; then rm /t/go; j=0; while [ $j -lt 20 ]; do i=$((i+1)); j=$((j+1)); echo "line $i ${pad}"; done; fi; sleep 0.02; done`;
  const id = await runContainer(d, pod, fx.image, {
    command: ['sh', '-c', writer], logPath: 'c.log', mounts: [{ containerPath: '/t', hostPath: trigger }],
  });
  const log = join(logDir, 'c.log');
  const numbers = (f: string): number[] => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => Number(CRI_LINE.exec(l.replace(` ${pad}`, ''))?.[1]));
  // What conmon counts for one line: the 45-byte prefix (timestamp, stream, tag) and the line with its newline.
  const entry = (n: number): number => 45 + `line ${n} ${pad}\n`.length;
  const rotated: string[] = [];
  for (let batch = 1; ; batch++) {
    assert.ok(batch <= 40, 'the limit was reached within 40 batches');
    writeFileSync(join(trigger, 'go'), '');
    // The batch is written when its last line is in the log.
    while (!existsSync(log) || numbers(log).at(-1) !== batch * 20) await sleep(20);
    // Fewer lines than written: the file in use was emptied.
    if (rotated.flatMap(numbers).length + numbers(log).length < batch * 20) break;
    // kubelet's rotation: rename, then ask conmon to reopen.
    const to = `${log}.${batch}`;
    renameSync(log, to);
    rotated.push(to);
    await d.client.call('ReopenContainerLog', { containerId: id });
  }
  // Lines 1..b-1 are whole across the rotated files; then lines a..b-1 of the file in use were dropped with it.
  const b = numbers(log)[0]!;
  const kept = rotated.flatMap(numbers);
  const a = kept.length + 1;
  assert.deepEqual(kept, Array.from({ length: a - 1 }, (_, i) => i + 1), 'rotation itself loses nothing');
  assert.ok(b > a, `lines ${a}..${b - 1} were dropped when the file was emptied`);
  let counted = 0;
  for (let n = 1; n < b; n++) counted += entry(n);
  assert.ok(counted <= LIMIT && counted + entry(b) > LIMIT, `emptied when line ${b} would have passed the limit: ${counted} + ${entry(b)} vs ${LIMIT}`);
  for (const f of [...rotated, log]) assert.ok(statSync(f).size < LIMIT / 2, `${f} never came near the limit by itself`);
  assert.ok(rotated.length >= 2, 'the count ran across reopens');
  assert.deepEqual(readdirSync(logDir).sort(), ['c.log', ...rotated.map((f) => f.slice(logDir.length + 1))].sort(), 'nothing else kept (no .1, no .tmp)');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
  rmSync(trigger, { recursive: true, force: true });
});
