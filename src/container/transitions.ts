// State changes more than one part of the container service makes, each a
// change for ContainerStore.update.
import type { Container } from './types.js';

/** A container that never ran: exited with StartError and exit code 128, as kubelet knows from containerd. */
export function startError(c: Container, message: string): void {
  c.state = 'EXITED';
  c.exitCode = 128;
  c.reason = 'StartError';
  c.message = message;
  c.finishedAt = Date.now();
}
