// The v2 reader against the kernel's own cgroup v2 files. This host is v1
// hybrid: its unified hierarchy (/sys/fs/cgroup/unified) has no memory or
// pids controller, but cpu.stat's usage_usec exists in every v2 cgroup, so a
// busy process moved into a fresh v2 cgroup must show moving CPU. On a v2
// host the same test runs on /sys/fs/cgroup with every file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readCgroupV2, CpuRates } from '../../src/stats/cgroup.js';
import { detectCgroupVersion } from '../../src/cgroup/host.js';

function v2Base(): string | undefined {
  if (detectCgroupVersion('/sys/fs/cgroup') === 'v2') return '/sys/fs/cgroup';
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '));
  return mounts.find((f) => f[2] === 'cgroup2')?.[1];
}

const base = v2Base();

test('v2 reader on a real cgroup v2 hierarchy: CPU of a busy process moves', { skip: !base && 'no cgroup2 mounted' }, async () => {
  const rel = `/berth-v2test-${process.pid}`;
  const dir = join(base!, rel);
  mkdirSync(dir);
  const busy = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
  try {
    writeFileSync(join(dir, 'cgroup.procs'), String(busy.pid));
    const rates = new CpuRates(1e8);
    const s1 = readCgroupV2(base!, rel);
    assert.ok(s1.cpuUsageNs !== undefined, 'cpu.stat usage_usec is read');
    rates.rate('x', s1.cpuUsageNs!, s1.atNs);
    // How much CPU the busy process gets depends on what else the machine
    // runs: wait until it has had some, and hold the reader to the kernel's
    // own file read just before and after.
    const raw = (): number => Number(/usage_usec (\d+)/.exec(readFileSync(join(dir, 'cpu.stat'), 'utf8'))![1]) * 1000;
    let s2 = s1;
    for (const until = Date.now() + 15_000; s2.cpuUsageNs! - s1.cpuUsageNs! < 0.1e9 && Date.now() < until;) {
      await sleep(200);
      const before = raw();
      s2 = readCgroupV2(base!, rel);
      const after = raw();
      assert.ok(before <= s2.cpuUsageNs! && s2.cpuUsageNs! <= after, `read ${s2.cpuUsageNs} outside the kernel's ${before}..${after}`);
    }
    assert.ok(s2.cpuUsageNs! - s1.cpuUsageNs! >= 0.1e9, `cpu moved ${s2.cpuUsageNs! - s1.cpuUsageNs!} ns`);
    const cores = rates.rate('x', s2.cpuUsageNs!, s2.atNs)!;
    assert.ok(cores > 0 && cores <= 1.05e9, `one busy process is at most one core: ${cores}`);
    if (existsSync(join(dir, 'memory.current'))) {
      assert.ok(s2.memory!.usageBytes > 0);
      assert.ok(s2.pids! >= 1);
    } else {
      assert.equal(s2.memory, undefined, 'no memory controller on this hierarchy: no memory values');
    }
  } finally {
    busy.kill('SIGKILL');
    await new Promise((r) => busy.once('exit', r));
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(dir);
        break;
      } catch {
        await sleep(20);
      }
    }
  }
});
