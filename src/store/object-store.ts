// What the sandbox and container stores share: the objects by ID, their
// reserved names (CRI names a pod or container by metadata and attempt, and
// refuses a second one while the first exists), lookup by ID or unique
// prefix, and publishing lifecycle events.
import type { EventBus, ContainerEventType } from '../events/bus.js';
import { alreadyExists } from '../util/errors.js';
import { resolveId } from '../util/ids.js';

/** What a change publishes: nothing, one event, or several in order. */
export type Published = ContainerEventType | ContainerEventType[] | void;

export abstract class ObjectStore<T extends { id: string }> {
  private readonly byId = new Map<string, T>();
  private readonly names = new Map<string, string>();

  protected constructor(
    /** How messages name the objects ("container", "pod sandbox") and their holders ("container", "sandbox"). */
    private readonly what: { object: string; holder: string; field: string },
    private readonly nameOf: (o: T) => string,
    private readonly events: EventBus,
  ) {}

  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  /** A full ID or unique prefix; NOT_FOUND naming `field` otherwise. */
  resolve(idOrPrefix: string, field = this.what.field): T {
    return this.byId.get(resolveId(this.what.object, field, idOrPrefix, this.byId.keys()))!;
  }

  all(): T[] {
    return [...this.byId.values()];
  }

  ids(): Set<string> {
    return new Set(this.byId.keys());
  }

  get size(): number {
    return this.byId.size;
  }

  /** A new object: its name is taken (ALREADY_EXISTS when another holds it); nothing is written yet. */
  reserve(o: T): void {
    const name = this.nameOf(o);
    const holder = this.names.get(name);
    if (holder) throw alreadyExists(`${this.what.object} name "${name}" is reserved by ${this.what.holder} ${holder}`);
    this.names.set(name, o.id);
    this.byId.set(o.id, o);
  }

  /** An object read back at restart. */
  adopt(o: T): void {
    this.byId.set(o.id, o);
    this.names.set(this.nameOf(o), o.id);
  }

  /** Drops the object and frees its name. */
  protected forget(o: T): void {
    this.byId.delete(o.id);
    const name = this.nameOf(o);
    if (this.names.get(name) === o.id) this.names.delete(name);
  }

  /** Publishes events about the object: `containerId` is the pod's own ID for pod events, as containerd does. */
  protected emit(published: Published, containerId: string, podSandboxId: string): void {
    for (const type of published === undefined ? [] : Array.isArray(published) ? published : [published]) {
      this.events.publish({ type, containerId, podSandboxId, at: Date.now() });
    }
  }
}
