import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { catches } from './lifecycle.js';

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

test('catches tells a process that traps SIGTERM from one that does not', async () => {
  const trapping = spawn('sh', ['-c', 'trap "exit 0" TERM; while :; do sleep 0.05; done'], { stdio: 'ignore' });
  const plain = spawn('sleep', ['5'], { stdio: 'ignore' });
  try {
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = catches(readFileSync(`/proc/${trapping.pid}/status`, 'utf8'), 15);
      if (!ok) await sleep(10);
    }
    assert.ok(ok, 'the shell installs its TERM trap');
    assert.equal(catches(readFileSync(`/proc/${plain.pid}/status`, 'utf8'), 15), false);
  } finally {
    trapping.kill('SIGKILL');
    plain.kill('SIGKILL');
  }
});
