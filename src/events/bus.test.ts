import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus, type ContainerEvent } from './bus.js';

const ev = (i: number): ContainerEvent => ({ type: 'created', containerId: `c${i}`, podSandboxId: 'p', at: i });

test('queues deliver in order to several subscribers', async () => {
  const bus = new EventBus();
  const a = bus.queue(10);
  const b = bus.queue(10);
  for (let i = 0; i < 3; i++) bus.publish(ev(i));
  for (const s of [a, b]) {
    const got = [await s.next(), await s.next(), await s.next()].map((e) => e?.containerId);
    assert.deepEqual(got, ['c0', 'c1', 'c2']);
  }
  const pending = a.next();
  bus.publish(ev(9));
  assert.equal((await pending)?.containerId, 'c9');
  bus.close();
  assert.equal(await a.next(), undefined);
  assert.equal(a.overflowed, false);
});

test('a full queue is cut without blocking the publisher or other subscribers', async () => {
  const bus = new EventBus();
  let told = 0;
  const slow = bus.queue(2, () => told++);
  const fast = bus.queue(100);
  for (let i = 0; i < 5; i++) bus.publish(ev(i));
  assert.equal(told, 1);
  assert.equal(slow.overflowed, true);
  assert.equal(await slow.next(), undefined);
  assert.equal(fast.length, 5);
  bus.publish(ev(5));
  assert.equal(fast.length, 6);
});

test('next() returns when the signal aborts', async () => {
  const bus = new EventBus();
  const s = bus.queue(2);
  const ac = new AbortController();
  const p = s.next(ac.signal);
  ac.abort();
  assert.equal(await p, undefined);
});
