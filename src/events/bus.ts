// Container lifecycle events, published by the container service and consumed
// by GetContainerEvents subscribers and metrics. Plain domain objects; the
// CRI edge converts them.

export type ContainerEventType = 'created' | 'started' | 'stopped' | 'deleted';

export interface ContainerEvent {
  type: ContainerEventType;
  containerId: string;
  podSandboxId: string;
  /** Milliseconds since the epoch (with sub-ms fraction when known). */
  at: number;
}

type Listener = (e: ContainerEvent) => void;

export class EventBus {
  private readonly listeners = new Set<Listener>();

  publish(e: ContainerEvent): void {
    for (const l of this.listeners) l(e);
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
