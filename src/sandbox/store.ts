// The one owner of pod sandbox state: every change goes through `update`,
// which applies it, writes the pod's record and publishes its lifecycle
// events in one place. As containerd does, a pod's own events carry its ID
// as the container ID, so kubelet's evented PLEG learns of sandbox changes
// without relisting.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { EventBus } from '../events/bus.js';
import type { Sandbox, SandboxConfig, SandboxState } from './types.js';
import { ObjectStore, type Published } from '../store/object-store.js';
import { readRecord, writeRecord, type RecordFormat } from '../store/records.js';

export interface SandboxFilter {
  id?: string;
  state?: SandboxState;
  labels?: Record<string, string>;
}

/** Schema of pod records: version 1 is the first with a version; version 0 had the same fields. */
export const SANDBOX_RECORD: RecordFormat<Sandbox> = {
  what: 'pod sandbox',
  version: 1,
  migrate: (record, from) => (from === 0 ? (record as unknown as Sandbox) : undefined),
};

export function sandboxReservedName(c: Pick<SandboxConfig, 'name' | 'namespace' | 'uid' | 'attempt'>): string {
  return `${c.name}_${c.namespace}_${c.uid}_${c.attempt}`;
}

export class SandboxStore extends ObjectStore<Sandbox> {
  constructor(
    private readonly root: string,
    events: EventBus,
    private readonly log: Logger,
  ) {
    super({ object: 'pod sandbox', holder: 'sandbox', field: 'pod_sandbox_id' }, (sb) => sandboxReservedName(sb.config), events);
  }

  dir(id: string): string {
    return join(this.root, id);
  }
  private recordPath(id: string): string {
    return join(this.dir(id), 'sandbox.json');
  }

  /** Pods RunPodSandbox has answered for, oldest first. */
  list(filter: SandboxFilter = {}): Sandbox[] {
    const out: Sandbox[] = [];
    for (const sb of this.all()) {
      if (sb.phase !== 'created') continue;
      if (filter.id && !sb.id.startsWith(filter.id)) continue;
      if (filter.state && sb.state !== filter.state) continue;
      if (filter.labels && Object.entries(filter.labels).some(([k, v]) => sb.config.labels[k] !== v)) continue;
      out.push(sb);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Applies `change`, writes the record, then publishes what the change returns. */
  update(sb: Sandbox, change: (sb: Sandbox) => Published): void {
    const published = change(sb);
    writeRecord(SANDBOX_RECORD, this.recordPath(sb.id), sb, (err) => this.log.warn({ sandbox: sb.id, err: err.message }, 'flushing the sandbox record to disk failed'));
    this.publish(sb, published);
  }

  publish(sb: Sandbox, published: Published): void {
    this.emit(published, sb.id, sb.id);
  }

  /** Forgets a pod and removes its record directory. */
  delete(sb: Sandbox): void {
    rmSync(this.dir(sb.id), { recursive: true, force: true });
    this.forget(sb);
  }

  load(id: string): Promise<Sandbox | undefined> {
    return readRecord(SANDBOX_RECORD, this.recordPath(id));
  }
}
