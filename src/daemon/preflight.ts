// What berthd settles before it touches the host: settings this host cannot
// honour stop the start with the key named, and host-wide inputs read once
// (the RuntimeDefault seccomp profile) are loaded and logged.
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { redactConfig } from '../config/redact.js';
import { cgroupDriverProblem } from '../runtime/cgroup-driver.js';
import { loadRuntimeDefault } from '../container/seccomp.js';
import { groupId } from '../util/group.js';
import { errorMessage } from '../util/errors.js';

/** A setting berthd refuses; the message names the key. */
export class HostSettingError extends Error {
  constructor(readonly key: string, problem: string, options?: { cause?: unknown }) {
    super(`key "${key}": ${problem}`, options);
    this.name = 'HostSettingError';
  }
}

/** `use()`'s result, its failure reported against `key`. */
function setting<T>(key: string, use: () => T): T {
  try {
    return use();
  } catch (err) {
    throw new HostSettingError(key, errorMessage(err), { cause: err });
  }
}

export function preflight(config: Config, log: Logger): void {
  log.debug({ config: redactConfig(config) }, 'configuration');
  const driver = cgroupDriverProblem(config.runtime.cgroup_driver);
  if (driver) throw new HostSettingError('runtime.cgroup_driver', driver);
  // Checked here so a missing group stops berthd before anything is made, not once its socket exists.
  if (config.daemon.socket_group) setting('daemon.socket_group', () => groupId(config.daemon.socket_group));
  const seccomp = setting('runtime.seccomp_profile', () => loadRuntimeDefault(config.runtime.seccomp_profile));
  if (seccomp.source === 'file') log.info({ profile: seccomp.path }, 'RuntimeDefault seccomp profile read');
  else log.warn({ profile: seccomp.path, reason: seccomp.reason }, 'RuntimeDefault seccomp profile: using the built-in copy');
}
