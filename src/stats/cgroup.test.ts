import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { cgroupReader, readCgroupV1, readCgroupV2, CpuRates } from './cgroup.js';
import { detectCgroupVersion } from '../cgroup/host.js';
import { parseNetDev, defaultInterface } from './net.js';

// Fixture trees copied in layout (and in content shape) from real hosts: a
// cgroup v2 unified hierarchy and cgroup v1 per-controller hierarchies.
const TESTDATA = fileURLToPath(new URL('../../../src/stats/testdata', import.meta.url));
const V2 = join(TESTDATA, 'v2');
const V1 = join(TESTDATA, 'v1');

test('detects v2 by cgroup.controllers at the root, v1 otherwise', () => {
  assert.equal(detectCgroupVersion(V2), 'v2');
  assert.equal(detectCgroupVersion(V1), 'v1');
  assert.equal(cgroupReader(V2).version, 'v2');
});

test('v2 reader: cpu.stat, memory.current/max/stat, pids.current', () => {
  const s = readCgroupV2(V2, '/berth/pod1/c1');
  assert.equal(s.cpuUsageNs, 1534721 * 1000);
  assert.deepEqual(s.memory, {
    usageBytes: 57753600,
    workingSetBytes: 57753600 - 3145728,
    rssBytes: 52428800,
    pageFaults: 13952,
    majorPageFaults: 7,
    availableBytes: 104857600 - (57753600 - 3145728),
  });
  assert.equal(s.pids, 3);
  const pod = readCgroupV2(V2, '/berth/pod1');
  assert.equal(pod.memory?.availableBytes, undefined, 'memory.max "max" means no limit');
  assert.equal(pod.memory?.workingSetBytes, 56000000);
  assert.equal(pod.pids, 4);
});

test('v1 reader: cpuacct.usage, memory.usage_in_bytes/limit/stat totals, pids.current', () => {
  const s = readCgroupV1(V1, '/berth/pod1/c1');
  assert.equal(s.cpuUsageNs, 2304117751);
  assert.deepEqual(s.memory, {
    usageBytes: 73728000, workingSetBytes: 73728000 - 16777216, rssBytes: 52428800, pageFaults: 20000, majorPageFaults: 3,
  }, 'the v1 "no limit" value leaves available unset');
  assert.equal(s.pids, 5);
  const pod = readCgroupV1(V1, '/berth/pod1');
  // Pod level: hierarchical total_* values, not the cgroup's own.
  assert.equal(pod.memory?.rssBytes, 60000000);
  assert.equal(pod.memory?.pageFaults, 25000);
  assert.equal(pod.memory?.workingSetBytes, 83886080 - 20000000);
  assert.equal(pod.memory?.availableBytes, 268435456 - (83886080 - 20000000));
});

test('a missing cgroup reads as no values, not an error', () => {
  const s = readCgroupV2(V2, '/berth/gone');
  assert.equal(s.cpuUsageNs, undefined);
  assert.equal(s.memory, undefined);
  const s1 = readCgroupV1(V1, '/berth/gone');
  assert.equal(s1.cpuUsageNs, undefined);
});

test('nano cores from successive samples; close samples measured against the older one', () => {
  const r = new CpuRates(1e9);
  assert.equal(r.rate('a', 0, 0), undefined);
  assert.equal(r.rate('a', 5e8, 1e9), 5e8, 'half a core over one second');
  assert.equal(r.rate('a', 6e8, 1.1e9), Math.round((6e8 / 1.1e9) * 1e9), 'a sample 0.1 s later is measured from the one before');
  assert.equal(r.rate('a', 2.5e9, 2e9), 2e9, 'two cores');
  r.retain(new Set());
  assert.equal(r.rate('a', 3e9, 3e9), undefined);
});

test('net/dev parsing leaves out loopback and picks eth0 as default', () => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     420       6    0    0    0     0          0         0      420       6    0    0    0     0       0          0
  eth0:  123456     100    2    0    0     0          0         0    65432      90    1    0    0     0       0          0
  net1:      10       1    0    0    0     0          0         0       20       2    0    0    0     0       0          0
`;
  const ifs = parseNetDev(text);
  assert.deepEqual(ifs.map((i) => i.name), ['eth0', 'net1']);
  assert.deepEqual(defaultInterface(ifs), { name: 'eth0', rxBytes: 123456, rxErrors: 2, txBytes: 65432, txErrors: 1 });
  assert.equal(parseNetDev(text, true).length, 3);
});
