import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../events/bus.js';
import { BerthError } from '../util/errors.js';
import { silentLogger } from '../log/logger.js';
import type { Services } from './context.js';
import { getContainerEvents, EVENT_BUFFER } from './container_events.js';

// Only what the handler touches: the bus, and lookups for pods that are gone.
function services(events: EventBus): Services {
  return {
    events,
    sandboxes: { find: () => undefined },
    containers: { list: () => [], inPod: () => [] },
  } as unknown as Services;
}

const ctx = (signal = new AbortController().signal) => ({ method: 'RuntimeService/GetContainerEvents', log: silentLogger(), signal });

test('a subscriber that stops reading is cut with RESOURCE_EXHAUSTED; publishing never waits and others keep going', async () => {
  const bus = new EventBus();
  const svc = services(bus);
  // The slow client: its first send never completes (gRPC write buffer full).
  const stuck = getContainerEvents(svc, {} as never, () => new Promise<void>(() => undefined), ctx());
  const got: string[] = [];
  const ac = new AbortController();
  const healthy = getContainerEvents(svc, {} as never, async (m) => {
    got.push((m as { containerId: string }).containerId);
  }, ctx(ac.signal));
  let publishMs = 0;
  for (let i = 0; i <= EVENT_BUFFER + 1; i++) {
    const t = performance.now();
    bus.publish({ type: 'created', containerId: `c${i}`, podSandboxId: 'p', at: Date.now() });
    publishMs += performance.now() - t;
    // Let the healthy reader run now and then, as a real one would.
    if (i % 100 === 0) await new Promise((r) => setImmediate(r));
  }
  assert.ok(publishMs < 500, `publishing does not block on a slow subscriber (${publishMs.toFixed(1)} ms)`);
  await assert.rejects(stuck, (e: unknown) => e instanceof BerthError && e.kind === 'ResourceExhausted');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(got.length, EVENT_BUFFER + 2);
  assert.equal(got[0], 'c0');
  ac.abort();
  await healthy;
});

test('daemon shutdown ends every stream cleanly', async () => {
  const bus = new EventBus();
  const p = getContainerEvents(services(bus), {} as never, async () => undefined, ctx());
  bus.publish({ type: 'started', containerId: 'x', podSandboxId: 'p', at: Date.now() });
  bus.close();
  await p;
});
