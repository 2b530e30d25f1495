import type { ListPodSandboxRequest__Output } from '../cri/generated/runtime/v1/ListPodSandboxRequest.js';
import type { ListPodSandboxResponse } from '../cri/generated/runtime/v1/ListPodSandboxResponse.js';
import type { StreamPodSandboxesRequest__Output } from '../cri/generated/runtime/v1/StreamPodSandboxesRequest.js';
import type { PodSandboxFilter__Output } from '../cri/generated/runtime/v1/PodSandboxFilter.js';
import type { PodSandbox } from '../cri/generated/runtime/v1/PodSandbox.js';
import type { Services } from './context.js';
import { podSandbox } from './sandbox_common.js';
import { enumValue, id, stringMap } from './validate.js';

// Items per message of the streaming variant; well below the message size limit.
const BATCH = 100;

function select(svc: Services, f: PodSandboxFilter__Output | null): PodSandbox[] {
  const state = f?.state ? enumValue('filter.state.state', f.state.state, ['SANDBOX_READY', 'SANDBOX_NOTREADY'] as const) : undefined;
  const items = svc.sandboxes.list({
    id: id('filter.id', f?.id, false) || undefined,
    state: state && (state === 'SANDBOX_READY' ? 'READY' : 'NOTREADY'),
    labels: stringMap('filter.label_selector', f?.labelSelector),
  });
  return items.map((sb) => podSandbox(sb, svc.handlers.defaultName));
}

export async function listPodSandbox(svc: Services, req: ListPodSandboxRequest__Output): Promise<ListPodSandboxResponse> {
  return { items: select(svc, req.filter) };
}

export async function streamPodSandboxes(svc: Services, req: StreamPodSandboxesRequest__Output, send: (m: unknown) => Promise<void>): Promise<void> {
  const items = select(svc, req.filter);
  for (let i = 0; i < items.length; i += BATCH) await send({ podSandboxes: items.slice(i, i + BATCH) });
}
