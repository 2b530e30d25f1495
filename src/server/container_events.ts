import type { GetEventsRequest__Output } from '../cri/generated/runtime/v1/GetEventsRequest.js';
import type { ContainerEventResponse } from '../cri/generated/runtime/v1/ContainerEventResponse.js';
import type { CallContext } from '../cri/server.js';
import type { ContainerEvent, ContainerEventType } from '../events/bus.js';
import type { Services } from './context.js';
import { BerthError } from '../util/errors.js';
import { sandboxStatusOf } from './sandbox_status.js';
import { containerStatus } from './container_common.js';

// Events a subscriber may lag behind by before its stream is ended; kubelet
// falls back to relisting (generic PLEG) when its stream breaks.
export const EVENT_BUFFER = 1000;

const TYPE: Record<ContainerEventType, ContainerEventResponse['containerEventType']> = {
  created: 'CONTAINER_CREATED_EVENT', started: 'CONTAINER_STARTED_EVENT', stopped: 'CONTAINER_STOPPED_EVENT', deleted: 'CONTAINER_DELETED_EVENT',
};

// Statuses are snapshotted once per event, at publish time, and shared by every subscriber.
const converted = new WeakMap<ContainerEvent, ContainerEventResponse>();

function convert(svc: Services, e: ContainerEvent): ContainerEventResponse {
  let r = converted.get(e);
  if (r) return r;
  const sb = svc.sandboxes.find(e.podSandboxId);
  const pod = sb ? sandboxStatusOf(svc, sb) : undefined;
  const statuses = pod?.containersStatuses ?? svc.containers.inPod(e.podSandboxId).map(containerStatus);
  r = {
    containerId: e.containerId,
    containerEventType: TYPE[e.type],
    createdAt: BigInt(Math.round(e.at * 1e6)).toString(),
    podSandboxStatus: pod?.status ?? null,
    containersStatuses: statuses,
  };
  converted.set(e, r);
  return r;
}

export async function getContainerEvents(svc: Services, _req: GetEventsRequest__Output, send: (m: unknown) => Promise<void>, ctx: CallContext): Promise<void> {
  let dropped = 0;
  const sub = svc.events.queue(EVENT_BUFFER, () => {
    ctx.log.warn({ buffered: EVENT_BUFFER }, 'container events subscriber too slow: buffer full, ending its stream');
  });
  // Convert on arrival so the statuses are those at the event's time, not at send time.
  const off = svc.events.subscribe((e) => {
    try {
      convert(svc, e);
    } catch {
      dropped++;
    }
  });
  try {
    for (;;) {
      const e = await sub.next(ctx.signal);
      if (!e) break;
      // A client that stopped reading blocks send() until its buffer drains;
      // the overflow must still end its stream.
      await Promise.race([send(convert(svc, e)), sub.ended]);
      if (sub.overflowed) break;
    }
    if (sub.overflowed) throw new BerthError('ResourceExhausted', `event subscriber fell ${EVENT_BUFFER} events behind; stream ended (resubscribe and relist)`);
    if (dropped) ctx.log.warn({ dropped }, 'container events without a status snapshot');
  } finally {
    off();
    sub.close();
  }
}
