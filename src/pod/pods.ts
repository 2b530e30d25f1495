// A pod is its sandbox and its containers: StopPodSandbox and
// RemovePodSandbox touch both, in an order that a crash at any point can be
// finished from. The sandbox is marked NOTREADY first (no container is
// created in it after that, and a restart completes its teardown), then its
// containers go, then the sandbox itself.
import type { SandboxService } from '../sandbox/service.js';
import type { ContainerService } from '../container/service.js';
import { unlessNotFound } from '../util/errors.js';

export class Pods {
  constructor(
    private readonly sandboxes: SandboxService,
    private readonly containers: ContainerService,
  ) {}

  /**
   * CRI: running containers are forcibly terminated (SIGKILL, at once:
   * kubelet has given each its grace period through StopContainer), then
   * the pod's network and namespaces go.
   */
  async stop(idOrPrefix: string): Promise<void> {
    const sb = this.sandboxes.resolve(idOrPrefix);
    await this.sandboxes.markNotReady(sb);
    await this.containers.killPod(sb.id);
    await this.sandboxes.stop(sb);
  }

  /** Idempotent: an unknown ID is not an error (kubelet retries removals). */
  async remove(idOrPrefix: string): Promise<void> {
    const sb = unlessNotFound(() => this.sandboxes.resolve(idOrPrefix));
    if (!sb) return;
    await this.sandboxes.markNotReady(sb);
    await this.containers.removePod(sb.id);
    await this.sandboxes.remove(sb);
  }
}
