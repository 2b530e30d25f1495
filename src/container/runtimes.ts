// Which OCI runtime runs a container: its pod's handler, one OciRuntime per
// handler for the daemon's life.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { RuntimeHandlers } from '../runtime/handlers.js';
import type { Sandbox } from '../sandbox/types.js';
import { OciRuntime } from '../runtime/oci.js';
import { SealedBinary } from '../runtime/sealed-binary.js';
import { failedPrecondition } from '../util/errors.js';

export class ContainerRuntimes {
  private readonly runtimes = new Map<string, OciRuntime>();

  constructor(
    private readonly config: Config,
    private readonly handlers: RuntimeHandlers,
    private readonly log?: Logger,
  ) {}

  /** The runtime of a pod's handler; FAILED_PRECONDITION when the handler is no longer configured. */
  of(sb: Sandbox): OciRuntime {
    const rt = this.named(sb.handler);
    if (!rt) throw failedPrecondition(`runtime handler "${sb.handler}" of pod ${sb.id} is no longer configured`);
    return rt;
  }

  named(handler: string): OciRuntime | undefined {
    let rt = this.runtimes.get(handler);
    if (!rt) {
      const h = this.handlers.get(handler);
      if (!h) return undefined;
      const binary = h.sealedCopy ? new SealedBinary(h.path, this.log) : undefined;
      rt = new OciRuntime(h.name, h.path, h.root || join(this.config.daemon.state, 'runtime', h.name), h.execFifoStart, binary);
      this.runtimes.set(handler, rt);
    }
    return rt;
  }

  /** Closes what the runtimes hold (their binaries' sealed copies). */
  close(): void {
    for (const rt of this.runtimes.values()) rt.close();
    this.runtimes.clear();
  }

  /** The runtimes of every handler usable on this host (a restart asks each about containers it does not know). */
  usable(): OciRuntime[] {
    return this.handlers.list().filter((h) => h.usable).map((h) => this.named(h.name)!);
  }
}
