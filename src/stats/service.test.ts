import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fstatSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StatsService, type LayerUsage, type StatsSources } from './service.js';
import type { CgroupReader, CgroupSample } from './cgroup.js';
import type { NetDevOpener } from './net.js';
import type { Container } from '../container/types.js';
import { EventBus } from '../events/bus.js';
import type { Sandbox } from '../sandbox/types.js';
import { loadNativeModule } from '../util/native.js';

function fixture(dir: string) {
  const sb = { id: 'p1', state: 'READY', cgroupParent: '/berth/p1', config: { namespaces: { network: 'NODE' } } } as unknown as Sandbox;
  const containers = ['c1', 'c2'].map((id) => ({ id, sandboxId: 'p1', state: 'RUNNING', pid: 0, config: {} }) as unknown as Container);
  const src: StatsSources = {
    listContainers: (f) => containers.filter((c) => !f.id || c.id === f.id),
    listSandboxes: () => [sb],
    findContainer: (id) => containers.find((c) => c.id === id),
    findSandbox: (id) => (id === sb.id ? sb : undefined),
    upperDir: (id) => join(dir, id),
    netnsPath: () => '/nonexistent',
  };
  const calls = { read: [] as string[], readMany: [] as string[][], retained: [] as string[][] };
  let usage = 1000;
  const sample = (): CgroupSample => ({ cpuUsageNs: (usage += 1000), atNs: Date.now() * 1e6 });
  const reader: CgroupReader = {
    version: 'v1',
    read: (p) => (calls.read.push(p), sample()),
    readMany: async (ps) => (calls.readMany.push(ps), ps.map(sample)),
    retain: (live) => calls.retained.push([...live].sort()),
    oomKills: () => 0,
  };
  for (const c of containers) {
    rmSync(join(dir, c.id), { recursive: true, force: true });
    writeFileSync(join(dir, c.id), '');
  }
  return { sb, containers, src, reader, calls };
}

/** Opens this process's net/dev for every namespace asked: a pod network without a namespace to enter. */
const ownNetDev: NetDevOpener = async (netns) => netns.map(() => openSync('/proc/self/net/dev', 'r'));

/** Runs `fn` with a fixture whose writable layers live in a directory of its own, removed after. */
async function withFixture(fn: (f: ReturnType<typeof fixture>, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-stats-'));
  try {
    await fn(fixture(dir), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a list call reads every cgroup in one batch; one right after reuses those samples; a call about one pod reads afresh', () => withFixture(async (f) => {
  const s = new StatsService(f.src, f.reader, { fsMs: 60_000, sampleMs: 60_000 });
  const pods = await s.sandboxes({});
  assert.equal(pods.length, 1);
  assert.equal(pods[0]!.containers.length, 2);
  assert.deepEqual(f.calls.readMany, [['/berth/p1', '/berth/p1/c1', '/berth/p1/c2']]);
  assert.deepEqual(f.calls.read, []);
  const cs = await s.containers({});
  assert.equal(cs.length, 2);
  assert.deepEqual(f.calls.readMany.at(-1), [], 'samples of the pod list served again');
  assert.equal(cs[0]!.cpu?.usageCoreNs, pods[0]!.containers[0]!.cpu?.usageCoreNs);
  await s.sandbox(f.sb);
  assert.deepEqual(f.calls.read, ['/berth/p1', '/berth/p1/c1', '/berth/p1/c2']);
  assert.deepEqual(f.calls.retained, [['/berth/p1', '/berth/p1/c1', '/berth/p1/c2']], 'what is kept for live cgroups is let go of at most once a second');
}));

test('writable layers: lists serve the last walk and refresh stale ones in the background; a call about one container walks a stale layer now', () => withFixture(async (f, dir) => {
  const s = new StatsService(f.src, f.reader, { fsMs: 50, sampleMs: 0 });
  const first = await s.containers({});
  const before = first.find((v) => v.container.id === 'c1')!.writableLayer!;
  assert.equal(before.inodesUsed, 1);
  rmSync(join(dir, 'c1'));
  mkdirSync(join(dir, 'c1'));
  for (let i = 0; i < 5; i++) writeFileSync(join(dir, 'c1', `f${i}`), 'x'.repeat(10_000));
  await sleep(60);
  const stale = (await s.containers({})).find((v) => v.container.id === 'c1')!.writableLayer!;
  assert.equal(stale.inodesUsed, 1, 'the stale walk is served');
  await s.settled();
  const refreshed = (await s.containers({ id: 'c1' }))[0]!.writableLayer!;
  assert.equal(refreshed.inodesUsed, 6, 'the background refresh walked it again');
  assert.ok(refreshed.usedBytes > before.usedBytes);
  writeFileSync(join(dir, 'c1', 'more'), 'y');
  await sleep(60);
  assert.equal((await s.container(f.containers[0]!)).writableLayer?.inodesUsed, 7, 'one container: walked now');
  assert.ok((await s.writableLayersBytes()) >= refreshed.usedBytes);
}));

test('follow: layers of the containers there and of each one started are walked, and cgroups opened, before any list call', () => withFixture(async (f, dir) => {
  const events = new EventBus();
  const s = new StatsService(f.src, f.reader, { fsMs: 60_000, sampleMs: 60_000 });
  s.follow(events);
  await s.settled();
  assert.deepEqual(f.calls.read.sort(), ['/berth/p1/c1', '/berth/p1/c2'], 'the cgroups of running containers read once (their files kept open)');
  f.containers.push({ id: 'c3', sandboxId: 'p1', state: 'RUNNING', pid: 0, config: {} } as unknown as Container);
  mkdirSync(join(dir, 'c3'));
  writeFileSync(join(dir, 'c3', 'a'), 'x');
  events.publish({ type: 'started', containerId: 'c3', podSandboxId: 'p1', at: Date.now() });
  await s.settled();
  assert.ok(f.calls.read.includes('/berth/p1/c3'));
  rmSync(join(dir, 'c3'), { recursive: true });
  const c3 = (await s.containers({ id: 'c3' }))[0]!;
  assert.equal(c3.writableLayer?.inodesUsed, 2, 'walked when it started, not by the list call');
  s.close();
  events.publish({ type: 'started', containerId: 'c1', podSandboxId: 'p1', at: Date.now() });
  await s.settled();
}));

test('layer walks: a list call walks every new layer in one batch; calls during a walk share it; a layer that cannot be read has no usage', () => withFixture(async (f, dir) => {
  const batches: string[][] = [];
  const usage: LayerUsage = (roots) => (batches.push(roots.map((r) => r.slice(dir.length + 1))), loadNativeModule().usage(roots));
  {
    const s = new StatsService(f.src, f.reader, { fsMs: 0, sampleMs: 0 }, usage);
    await s.containers({});
    assert.deepEqual(batches[0], ['c1', 'c2'], 'one walk for both new layers');
    // fsMs 0: every walk is stale at once (the list queued both again), but one still running is not started again.
    await s.settled();
    const before = batches.length;
    const [a, b] = await Promise.all([s.container(f.containers[0]!), s.container(f.containers[0]!)]);
    assert.deepEqual(batches.slice(before), [['c1']], 'the second call got the first one\'s walk');
    assert.equal(a.writableLayer?.atNs, b.writableLayer?.atNs);
    rmSync(join(dir, 'c2'));
    const gone = await s.container(f.containers[1]!);
    assert.equal(gone.writableLayer, undefined);
    assert.ok(gone.cpu, 'the rest of its stats still there');
  }
}));

test('layer walks: while a background refresh runs, a list call serves the walk before it instead of waiting', () => withFixture(async (f, dir) => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let walks = 0;
  const usage: LayerUsage = async (roots) => {
    // The first walk answers at once, every later one when the gate opens.
    if (walks++ > 0) await gate;
    return loadNativeModule().usage(roots);
  };
  rmSync(join(dir, 'c1'));
  mkdirSync(join(dir, 'c1'));
  const s = new StatsService(f.src, f.reader, { fsMs: 0, sampleMs: 0 }, usage);
  const first = (await s.containers({ id: 'c1' }))[0]!.writableLayer!;
  writeFileSync(join(dir, 'c1', 'more'), 'y');
  // fsMs 0: stale at once, so this list queues the refresh that the gate holds.
  await s.containers({ id: 'c1' });
  while (walks < 2) await sleep(5);
  const during = await Promise.race([s.containers({ id: 'c1' }), sleep(2000).then(() => 'waited' as const)]);
  assert.notEqual(during, 'waited', 'the list call waited for the running refresh');
  assert.equal((during as Awaited<ReturnType<typeof s.containers>>)[0]!.writableLayer?.atNs, first.atNs, 'the walk before the refresh is served');
  open();
  await s.settled();
  assert.equal((await s.containers({ id: 'c1' }))[0]!.writableLayer?.inodesUsed, first.inodesUsed + 1, 'the refresh is served once it ended');
}));

test('pod network: each pod\'s net/dev is opened once and read at every call; its descriptor is closed when the pod stops or is gone', () => withFixture(async (f) => {
  (f.sb.config.namespaces as { network: string }).network = 'POD';
  const opened: string[][] = [];
  const fds: number[] = [];
  const open: NetDevOpener = async (netns) => {
    opened.push(netns);
    const got = await ownNetDev(netns);
    fds.push(...(got as number[]));
    return got;
  };
  const events = new EventBus();
  const s = new StatsService(f.src, f.reader, { fsMs: 60_000, sampleMs: 0 }, undefined, open);
  s.follow(events);
  try {
    const first = (await s.sandboxes({}))[0]!.network!;
    assert.ok(first.interfaces.length > 0, 'the pod has network counters');
    const again = (await s.sandbox(f.sb)).network!;
    assert.ok(again.atNs >= first.atNs, 'read again at the call');
    assert.deepEqual(opened, [['/nonexistent']], 'opened once, from the pod\'s namespace file, for the list and the call about the pod');
    // A pod with no process running (its containers being replaced) still has its counters.
    for (const c of f.containers) (c as { state: string }).state = 'EXITED';
    assert.ok((await s.sandboxes({}))[0]!.network, 'counters with no container running');
    assert.equal(opened.length, 1);
    events.publish({ type: 'stopped', containerId: 'p1', podSandboxId: 'p1', at: Date.now() });
    assert.throws(() => fstatSync(fds[0]!), /EBADF/, 'the stopped pod\'s descriptor is closed');
    await s.sandboxes({});
    assert.equal(opened.length, 2, 'opened again when asked again');
  } finally {
    s.close();
  }
  for (const fd of fds) assert.throws(() => fstatSync(fd), /EBADF/, 'nothing left open after close');
}));

test('collection period: nothing is read until a list call comes; then every cgroup and pod network is read in the background and lists serve those readings; reading stops when lists stop', () => withFixture(async (f) => {
  // A pod with a network of its own, whose net/dev is this process's.
  (f.sb.config.namespaces as { network: string }).network = 'POD';
  const PERIOD = 200;
  const s = new StatsService(f.src, f.reader, { fsMs: 60_000, sampleMs: 0 }, undefined, ownNetDev);
  s.collectEvery(PERIOD);
  try {
    await sleep(2.5 * PERIOD);
    assert.equal(f.calls.readMany.length, 0, 'no list call yet: no background reading');
    const first = await s.sandboxes({});
    assert.deepEqual(f.calls.readMany, [['/berth/p1', '/berth/p1/c1', '/berth/p1/c2']], 'the first list reads at the call');
    const net1 = first[0]!.network!;
    assert.ok(net1, 'the pod has network counters');
    // Wait for a background reading.
    for (const until = Date.now() + 10 * PERIOD; f.calls.readMany.length < 2 && Date.now() < until;) await sleep(5);
    assert.deepEqual(f.calls.readMany[1], ['/berth/p1', '/berth/p1/c1', '/berth/p1/c2'], 'the background reading takes every cgroup');
    // It started; its net/dev reads go through the thread pool: let it end (the next one is a period away).
    await sleep(PERIOD / 2);
    const calledAt = Date.now() * 1e6;
    const served = await s.sandboxes({});
    assert.ok(served[0]!.cpu!.atNs > first[0]!.cpu!.atNs && served[0]!.cpu!.atNs <= calledAt, 'the list right after is served from that reading, with the time it was taken');
    assert.ok(served[0]!.network!.atNs > net1.atNs && served[0]!.network!.atNs <= calledAt, 'network counters too');
    assert.deepEqual(served[0]!.network!.interfaces.map((i) => i.name), net1.interfaces.map((i) => i.name));
    const containers = await s.containers({});
    assert.equal(containers[0]!.cpu!.atNs, served[0]!.containers[0]!.cpu!.atNs, 'container lists serve the same reading');
    // Lists stop: after three periods the background reading stops too.
    await sleep(4 * PERIOD);
    const settled = f.calls.readMany.length;
    await sleep(3 * PERIOD);
    assert.equal(f.calls.readMany.length, settled, 'nobody polling: no reading');
  } finally {
    s.close();
  }
}));
