// What the streaming server needs from the container and sandbox services to
// serve Exec, Attach and PortForward. The container service implements it.

import type { Duplex, Readable, Writable } from 'node:stream';

export interface TerminalSize {
  width: number;
  height: number;
}

export interface ExecSession {
  stdin?: Writable;
  stdout?: Readable;
  stderr?: Readable;
  resize(size: TerminalSize): void;
  /** Resolves with the exit code once the process is gone. */
  exited: Promise<number>;
  /** Kills the process (session closed early). */
  kill(): void;
}

export interface StreamingTarget {
  exec(containerId: string, cmd: string[], opts: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): Promise<ExecSession>;
  attach(containerId: string, opts: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): Promise<ExecSession>;
  /** Opens a TCP connection to `port` inside the sandbox's network namespace. */
  portForward(podSandboxId: string, port: number): Promise<Duplex>;
}
