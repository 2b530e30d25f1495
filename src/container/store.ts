// The one owner of container state. Every change goes through `update`,
// which applies it, writes the container's record and publishes the
// lifecycle event in one place, so what a call answered, what a restart
// reads back and what kubelet's event stream said cannot drift apart.
import type { Logger } from '../log/logger.js';
import type { EventBus } from '../events/bus.js';
import type { Container, ContainerState } from './types.js';
import type { ContainerPaths } from './paths.js';
import { ObjectStore, type Published } from '../store/object-store.js';
import { readRecord, removeRecord, writeRecord, type RecordFormat } from '../store/records.js';
import { rmSync } from 'node:fs';

export interface ContainerFilter {
  id?: string;
  state?: ContainerState;
  sandboxId?: string;
  labels?: Record<string, string>;
}

/**
 * Schema of container records. Version 1 is the first with a version; the
 * records before it (version 0) have the same fields.
 */
export const CONTAINER_RECORD: RecordFormat<Container> = {
  what: 'container',
  version: 1,
  migrate: (record, from) => (from === 0 ? (record as unknown as Container) : undefined),
};

export class ContainerStore extends ObjectStore<Container> {
  /** Containers that may have a creation record on the state tmpfs. */
  private readonly creationRecords = new Set<string>();

  constructor(
    private readonly paths: ContainerPaths,
    events: EventBus,
    private readonly log: Logger,
  ) {
    super({ object: 'container', holder: 'container', field: 'container_id' }, (c) => c.reservedName, events);
  }

  /** Containers CreateContainer has answered for (or is answering), oldest first. */
  list(f: ContainerFilter = {}): Container[] {
    const out: Container[] = [];
    for (const c of this.all()) {
      if (c.phase === 'preparing') continue;
      if (f.id && !c.id.startsWith(f.id)) continue;
      if (f.state && c.state !== f.state) continue;
      if (f.sandboxId && !c.sandboxId.startsWith(f.sandboxId)) continue;
      if (f.labels && Object.entries(f.labels).some(([k, v]) => c.config.labels[k] !== v)) continue;
      out.push(c);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Every container of one pod in any phase (exact ID), oldest first. */
  inPod(sandboxId: string): Container[] {
    return this.all().filter((c) => c.sandboxId === sandboxId).sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * Applies `change`, records the result, then publishes what the change
   * returns. A record that cannot be written throws before any event goes
   * out (the in-memory change stays: the call that made it reports the
   * failure).
   */
  update(c: Container, change: (c: Container) => Published): void {
    const published = change(c);
    this.persist(c);
    this.emit(published, c.id, c.sandboxId);
  }

  /**
   * Forgets a container: its record goes first, so a berthd killed during
   * the removal of its files finds files without a record (removed at
   * restart), never a record without files. Publishes `deleted`.
   */
  delete(c: Container, publish = true): void {
    removeRecord(this.paths.record(c.id));
    removeRecord(this.paths.creation(c.id));
    this.creationRecords.delete(c.id);
    this.forget(c);
    if (publish) this.emit('deleted', c.id, c.sandboxId);
  }

  /**
   * Writes what a restart must know. A container being prepared has no
   * record (a crash leaves a bundle without one, removed at restart). One
   * whose creation was answered while the runtime works has its record on the
   * state tmpfs, written before the answer (microseconds, where the disk
   * costs a journal commit on this kind of host); once created, on disk.
   */
  private persist(c: Container): void {
    if (c.phase === 'preparing') return;
    const onFlushError = (err: Error): void => this.log.warn({ container: c.id, err: err.message }, 'flushing the container record to disk failed');
    if (c.phase === 'creating') {
      writeRecord(CONTAINER_RECORD, this.paths.creation(c.id), c, onFlushError);
      this.creationRecords.add(c.id);
      return;
    }
    writeRecord(CONTAINER_RECORD, this.paths.record(c.id), c, onFlushError);
    // Only the first record on disk has a creation record to drop; later
    // updates (start, exit) skip the unlink.
    if (this.creationRecords.delete(c.id)) rmSync(this.paths.creation(c.id), { force: true });
  }

  /** Reads a container's record back: the disk record when there is one, else the creation record. */
  async load(id: string): Promise<Container | undefined> {
    const created = await readRecord(CONTAINER_RECORD, this.paths.record(id));
    // A creation record may be left beside a disk record (killed between the two writes).
    this.creationRecords.add(id);
    return created ?? readRecord(CONTAINER_RECORD, this.paths.creation(id));
  }
}
