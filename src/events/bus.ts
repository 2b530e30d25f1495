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

/**
 * A subscriber's bounded queue. Publishing never waits for a reader: when the
 * queue is full the subscription is cut (overflowed) and its reader told, so a
 * stuck client costs at most `max` events of memory and never stalls the
 * container service.
 */
export class Subscription<T = ContainerEvent> {
  private readonly queue: T[] = [];
  private wake?: () => void;
  private endedResolve!: () => void;
  /** Resolves when the subscription is closed (overflow or shutdown): a reader blocked elsewhere can race it. */
  readonly ended = new Promise<void>((resolve) => (this.endedResolve = resolve));
  overflowed = false;
  closed = false;

  constructor(
    readonly max: number,
    private readonly detach: () => void,
    private readonly onOverflow?: () => void,
  ) {}

  push(e: T): void {
    if (this.closed) return;
    if (this.queue.length >= this.max) {
      this.overflowed = true;
      this.close();
      this.onOverflow?.();
      return;
    }
    this.queue.push(e);
    this.wake?.();
  }

  /** The next item; undefined once closed (check `overflowed` for why). Items queued before an overflow are dropped. */
  async next(signal?: AbortSignal): Promise<T | undefined> {
    for (;;) {
      if (this.overflowed) return undefined;
      const e = this.queue.shift();
      if (e !== undefined) return e;
      if (this.closed || signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.wake = undefined;
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.wake = done;
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    this.wake?.();
    this.endedResolve();
  }

  get length(): number {
    return this.queue.length;
  }
}

export class EventBus {
  private readonly listeners = new Set<Listener>();
  private readonly subs = new Set<Subscription<ContainerEvent>>();

  publish(e: ContainerEvent): void {
    for (const l of this.listeners) l(e);
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** A bounded queue of every event from now on; see Subscription. */
  queue(max: number, onOverflow?: () => void): Subscription<ContainerEvent> {
    let off = (): void => undefined;
    const sub = new Subscription<ContainerEvent>(max, () => {
      off();
      this.subs.delete(sub);
    }, onOverflow);
    off = this.subscribe((e) => sub.push(e));
    this.subs.add(sub);
    return sub;
  }

  /** Ends every queue (daemon shutdown), so long-lived streams finish cleanly. */
  close(): void {
    for (const s of [...this.subs]) s.close();
  }
}
