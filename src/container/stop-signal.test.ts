import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTestCgroup, type TestCgroup } from '../../test/helpers/cgroups.js';
import { catches, runtimeInit, signalInit, SETTLE_MS } from './stop-signal.js';

/** A shell that traps SIGTERM, and whether its trap showed in its SigCgt mask within a second. */
async function trappingShell(): Promise<{ child: ChildProcess; trapped: boolean }> {
  const child = spawn('sh', ['-c', 'trap "exit 0" TERM; while :; do sleep 0.05; done'], { stdio: 'ignore' });
  let trapped = false;
  for (let i = 0; i < 100 && !trapped; i++) {
    trapped = catches(readFileSync(`/proc/${child.pid}/status`, 'utf8'), 15);
    if (!trapped) await sleep(10);
  }
  return { child, trapped };
}

test('catches reads the SigCgt mask: bit N-1 for signal N', () => {
  const status = 'Name:\tsh\nSigIgn:\t0000000000000004\nSigCgt:\t0000000000004002\n';
  assert.equal(catches(status, 15), true, 'SIGTERM (bit 14)');
  assert.equal(catches(status, 2), true, 'SIGINT (bit 1)');
  assert.equal(catches(status, 3), false, 'SIGQUIT is ignored, not caught');
  assert.equal(catches(status, 9), false);
  assert.equal(catches('SigCgt:\t0000000100000000\n', 33), true, 'real-time range');
  assert.equal(catches('Name:\tx\n', 15), false, 'no mask');
  assert.equal(catches(status, 0), false);
});

test('runtimeInit tells runc\'s init (before its exec) from the container\'s process', () => {
  assert.equal(runtimeInit('Name:\trunc:[2:INIT]\nSigCgt:\tfffffffe7fc1feff\n'), true);
  assert.equal(runtimeInit('Name:\trunc\n'), true);
  assert.equal(runtimeInit('Name:\tsh\n'), false);
  assert.equal(runtimeInit('Name:\trunner\n'), false);
});

test('catches tells a process that traps SIGTERM from one that does not', async () => {
  const { child: trapping, trapped } = await trappingShell();
  const plain = spawn('sleep', ['5'], { stdio: 'ignore' });
  try {
    assert.ok(trapped, 'the shell installs its TERM trap');
    assert.equal(catches(readFileSync(`/proc/${plain.pid}/status`, 'utf8'), 15), false);
  } finally {
    trapping.kill('SIGKILL');
    plain.kill('SIGKILL');
  }
});

test('signalInit leaves to the runtime what it cannot send safely, and signals the rest', async (t) => {
  // A cgroup of its own stands in for the container's: its path ends in the ID.
  const id = `berth-stop-signal-${process.pid}`;
  let cg: TestCgroup;
  try {
    cg = makeTestCgroup(`/${id}`);
  } catch (err) {
    t.skip(`no cgroup to make here: ${(err as Error).message}`);
    return;
  }
  const { child: trapping } = await trappingShell();
  const exited = new Promise<number | null>((resolve) => trapping.once('exit', (code) => resolve(code)));
  try {
    const pid = trapping.pid!;
    for (const f of cg.procsFiles) writeFileSync(f, String(pid));
    const now = Date.now();
    const old = now - 10 * SETTLE_MS;
    assert.equal(signalInit({ id: 'another-container', pid, startedAt: old }, 'SIGTERM', now), false, 'not in the container\'s cgroup');
    assert.equal(signalInit({ id, pid: 0, startedAt: old }, 'SIGTERM', now), false, 'no PID');
    assert.equal(signalInit({ id, pid, startedAt: old }, 'SIGNOPE', now), false, 'unknown signal');
    assert.equal(signalInit({ id, pid, startedAt: now - 1 }, 'SIGTERM', now), false, 'just started');
    assert.equal(signalInit({ id, pid, startedAt: old }, 'SIGUSR1', now), false, 'a signal it does not catch');
    assert.equal(signalInit({ id, pid, startedAt: old }, 'SIGTERM', now), true);
    assert.equal(await exited, 0, 'its trap ran');
  } finally {
    trapping.kill('SIGKILL');
    await cg.killAll();
    await cg.remove();
  }
});
