import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { cgroupReader, keyedValue, readCgroupV1, readCgroupV2, CpuRates } from './cgroup.js';
import { detectCgroupVersion } from '../cgroup/host.js';
import { parseNetDev, defaultInterface } from './net.js';
import { readMany } from './read.js';
import { loadNativeModule } from '../util/native.js';
import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

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

test('a list read (native, off the event loop) gives what the synchronous reader gives', async () => {
  for (const [base, version] of [[V1, 'v1'], [V2, 'v2']] as const) {
    const r = cgroupReader(base, version);
    const paths = ['/berth/pod1/c1', '/berth/gone', '/berth/pod1'];
    const many = await r.readMany(paths);
    assert.equal(many.length, 3);
    paths.forEach((p, i) => assert.deepEqual({ ...many[i], atNs: 0 }, { ...r.read(p), atNs: 0 }, `${version} ${p}`));
  }
  assert.deepEqual(await cgroupReader(V1, 'v1').readMany([]), []);
});

test('readMany: texts in order across thread-pool jobs, undefined where unreadable, long files whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-readmany-'));
  try {
    const paths: string[] = [];
    for (let i = 0; i < 300; i++) {
      const p = join(dir, `f${i}`);
      if (i % 7 !== 3) writeFileSync(p, `file ${i}\n`);
      paths.push(p);
    }
    const texts = await readMany(paths);
    assert.equal(texts.length, 300);
    texts.forEach((t, i) => assert.equal(t, i % 7 === 3 ? undefined : `file ${i}\n`));
    const big = join(dir, 'big');
    writeFileSync(big, 'x'.repeat(100_000));
    assert.equal((await readMany([big]))[0]?.length, 100_000);
    assert.deepEqual(await readMany([dir]), [undefined], 'a directory cannot be read');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the native readFiles refuses what is not a list of paths and descriptors', () => {
  const n = loadNativeModule();
  assert.throws(() => n.readFiles('a' as unknown as string[]), TypeError);
  assert.throws(() => n.readFiles([-1]), TypeError);
  assert.throws(() => n.readFiles([{}] as unknown as string[]), TypeError);
});

test('kept descriptors: later reads see new content, retain closes what is not live', async () => {
  const base = mkdtempSync(join(tmpdir(), 'berth-kept-'));
  const write = (cg: string, usage: number): void => {
    for (const c of ['cpuacct', 'memory', 'pids']) mkdirSync(join(base, c, cg), { recursive: true });
    writeFileSync(join(base, 'cpuacct', cg, 'cpuacct.usage'), `${usage}\n`);
    writeFileSync(join(base, 'memory', cg, 'memory.usage_in_bytes'), '4096\n');
    writeFileSync(join(base, 'memory', cg, 'memory.limit_in_bytes'), '9223372036854771712\n');
    writeFileSync(join(base, 'memory', cg, 'memory.stat'), 'total_inactive_file 1024\n');
    writeFileSync(join(base, 'pids', cg, 'pids.current'), '2\n');
  };
  const openFds = (): number => readdirSync('/proc/self/fd').length;
  try {
    write('/a', 100);
    write('/b', 200);
    const before = openFds();
    const r = cgroupReader(base, 'v1');
    assert.deepEqual((await r.readMany(['/a', '/b'])).map((s) => s.cpuUsageNs), [100, 200]);
    assert.equal(openFds() - before, 10, 'five descriptors kept per cgroup');
    writeFileSync(join(base, 'cpuacct', '/a', 'cpuacct.usage'), '150\n');
    assert.equal((await r.readMany(['/a']))[0]!.cpuUsageNs, 150, 'a kept descriptor reads the current content');
    assert.equal(r.read('/a').cpuUsageNs, 150);
    r.retain(new Set(['/a']));
    assert.equal(openFds() - before, 5, 'the descriptors of /b closed');
    r.retain(new Set());
    assert.equal(openFds(), before);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('kept descriptors of a real cgroup: removed, it reads as gone; made again under its path, it is read afresh', async (t) => {
  const base = '/sys/fs/cgroup';
  const version = detectCgroupVersion(base);
  const controllers = version === 'v2' ? [''] : ['cpuacct', 'memory', 'pids'];
  const path = `/berth-test-kept-${process.pid}`;
  const make = (): void => controllers.forEach((c) => mkdirSync(join(base, c, path)));
  const remove = (): void => controllers.forEach((c) => {
    try {
      rmdirSync(join(base, c, path));
    } catch {
      // not there
    }
  });
  try {
    make();
  } catch (err) {
    t.skip(`cannot make a cgroup here: ${(err as Error).message}`);
    return;
  }
  try {
    const r = cgroupReader(base, version);
    const first = (await r.readMany([path]))[0]!;
    assert.notEqual(first.memory, undefined);
    controllers.forEach((c) => rmdirSync(join(base, c, path)));
    assert.equal((await r.readMany([path]))[0]!.memory, undefined, 'a removed cgroup reads as gone');
    make();
    assert.notEqual((await r.readMany([path]))[0]!.memory, undefined, 'made again: read through fresh descriptors');
    controllers.forEach((c) => rmdirSync(join(base, c, path)));
    assert.equal(r.read(path).memory, undefined);
    make();
    assert.notEqual(r.read(path).memory, undefined);
    r.retain(new Set());
  } finally {
    remove();
  }
});

test('keyedValue finds a key on the first, a middle and the last line, and no key that only ends another', () => {
  const t = 'cache 10\nrss 20\ntotal_rss 30\nmapped_file 5';
  assert.equal(keyedValue(t, 'cache'), 10);
  assert.equal(keyedValue(t, 'rss'), 20);
  assert.equal(keyedValue(t, 'total_rss'), 30);
  assert.equal(keyedValue(t, 'mapped_file'), 5);
  assert.equal(keyedValue(t, 'file'), undefined);
  assert.equal(keyedValue(t, 'ss'), undefined);
  assert.equal(keyedValue('usage_usec 7\n', 'usage_usec'), 7);
  assert.equal(keyedValue(undefined, 'x'), undefined);
  assert.equal(keyedValue('x abc\n', 'x'), undefined);
});
