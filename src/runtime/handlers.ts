import { accessSync, constants, readFileSync } from 'node:fs';
import type { RuntimeHandlerConfig } from '../config/config.js';
import { run } from '../util/run.js';

export interface HandlerState {
  name: string;
  path: string;
  root: string;
  privilegedWithoutHostDevices: boolean;
  execFifoStart: boolean;
  /** Run from a sealed in-memory copy of the binary (runtime/sealed-binary.ts). */
  sealedCopy: boolean;
  usable: boolean;
  /** Why the handler cannot be used, when it cannot. */
  reason: string;
  version: string;
}

/** True when controllers sit on cgroup v1 while a cgroup2 hierarchy is mounted beside them. */
export function isHybridCgroups(mounts = readFileSync('/proc/self/mounts', 'utf8')): boolean {
  const lines = mounts.split('\n');
  const v1 = lines.some((l) => l.split(' ')[2] === 'cgroup');
  const v2 = lines.some((l) => l.split(' ')[2] === 'cgroup2');
  return v1 && v2;
}

/**
 * The runtime handlers (RuntimeClass → OCI runtime) and whether each works on
 * this host. Probed once at start so a broken handler is reported in Status
 * instead of failing deep inside a container start.
 */
export class RuntimeHandlers {
  private readonly states = new Map<string, HandlerState>();

  constructor(
    private readonly configs: Record<string, RuntimeHandlerConfig>,
    readonly defaultName: string,
  ) {}

  async probe(): Promise<void> {
    await Promise.all(
      Object.entries(this.configs).map(async ([name, c]) => {
        const state: HandlerState = {
          name, path: c.path, root: c.root, privilegedWithoutHostDevices: c.privileged_without_host_devices,
          execFifoStart: c.exec_fifo_start, sealedCopy: c.sealed_copy,
          usable: true, reason: '', version: '',
        };
        try {
          accessSync(c.path, constants.X_OK);
          const { stdout } = await run(c.path, ['--version'], { timeoutMs: 5000 });
          state.version = stdout.split('\n')[0]?.trim() ?? '';
        } catch (err) {
          state.usable = false;
          state.reason = `${c.path} is not an executable OCI runtime: ${(err as Error).message.split('\n')[0]}`;
        }
        // crun refuses hosts whose controllers are on v1 while cgroup2 is also mounted.
        if (state.usable && /crun/.test(state.version) && isHybridCgroups()) {
          state.usable = false;
          state.reason = 'crun does not support hybrid cgroups (controllers on v1 with cgroup2 mounted): "cgroups in hybrid mode not supported"';
        }
        this.states.set(name, state);
      }),
    );
  }

  list(): HandlerState[] {
    // Code-point order: locale-aware comparison would load ICU collation data (~3 MiB resident) for ASCII names.
    return [...this.states.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): HandlerState | undefined {
    return this.states.get(name === '' ? this.defaultName : name);
  }

  defaultHandler(): HandlerState | undefined {
    return this.states.get(this.defaultName);
  }
}
