// PodNetDevs: one kept net/dev descriptor per pod, and none left behind by a
// pod that stopped, also while its descriptor was being opened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { PodNetDevs, type NetDevOpener } from './net.js';

/** An opener of this process's net/dev (no namespace to enter), recording what it opened; `gate` holds its answer. */
function opener(gate?: Promise<void>): { open: NetDevOpener; opened: string[][]; fds: number[] } {
  const opened: string[][] = [];
  const fds: number[] = [];
  const open: NetDevOpener = async (netns) => {
    opened.push(netns);
    const got = netns.map(() => openSync('/proc/self/net/dev', 'r'));
    fds.push(...got);
    await gate;
    return got;
  };
  return { open, opened, fds };
}

const closed = (fd: number): boolean => {
  try {
    fstatSync(fd);
    return false;
  } catch {
    return true;
  }
};

const A = { sandboxId: 'a', netns: '/run/a/net' };
const B = { sandboxId: 'b', netns: '/run/b/net' };

test('each pod is opened once and read at every call; a pod that cannot be opened has no text', async () => {
  const o = opener();
  // b's namespace cannot be entered: null for it.
  const nets = new PodNetDevs(async (netns) => (await o.open(netns)).map((fd, i) => {
    if (netns[i] !== B.netns) return fd;
    closeSync(fd!);
    return null;
  }));
  const [a, b] = await nets.read([A, B]);
  assert.match(a!, /Inter-\|/);
  assert.equal(b, undefined);
  await nets.read([A, B]);
  assert.deepEqual(o.opened, [[A.netns, B.netns], [B.netns]], 'a opened once; b tried again');
  nets.retain(new Set());
  assert.ok(closed(o.fds[0]!));
});

test('two calls opening the same pod at once keep one descriptor and close the other', async () => {
  const o = opener();
  const nets = new PodNetDevs(o.open);
  await Promise.all([nets.read([A]), nets.read([A])]);
  assert.equal(o.fds.length, 2);
  assert.equal(o.fds.filter(closed).length, 1, 'one of the two closed');
  nets.close('a');
  assert.ok(o.fds.every(closed));
});

test('a pod stopped while its descriptor is being opened: the descriptor is closed once opened, not kept', async () => {
  let release!: () => void;
  const o = opener(new Promise<void>((resolve) => (release = resolve)));
  const nets = new PodNetDevs(o.open);
  const reading = nets.read([A]);
  while (o.fds.length === 0) await new Promise((r) => setImmediate(r));
  nets.close('a');
  release();
  assert.deepEqual(await reading, [undefined], 'no counters for the stopped pod');
  assert.ok(closed(o.fds[0]!), 'its descriptor closed');
  await nets.read([A]);
  assert.equal(o.opened.length, 2, 'asked again later: opened again');
  nets.retain(new Set());
  assert.ok(o.fds.every(closed));
});
