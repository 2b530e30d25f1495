// What berthd settles before it touches the host: settings this host cannot
// honour stop the start with the key named, and host-wide inputs read once
// (the RuntimeDefault seccomp profile) are loaded and logged.
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { cgroupDriverProblem } from '../runtime/cgroup-driver.js';
import { loadRuntimeDefault } from '../container/seccomp.js';
import { errorMessage } from '../util/errors.js';
import { redactConfig } from '../config/redact.js';

/** A setting berthd refuses; the message names the key. */
export class HostSettingError extends Error {
  constructor(readonly key: string, problem: string) {
    super(`key "${key}": ${problem}`);
    this.name = 'HostSettingError';
  }
}

export function preflight(config: Config, log: Logger): void {
  log.debug({ config: redactConfig(config) }, 'configuration');
  const driver = cgroupDriverProblem(config.runtime.cgroup_driver);
  if (driver) throw new HostSettingError('runtime.cgroup_driver', driver);
  let seccomp;
  try {
    seccomp = loadRuntimeDefault(config.runtime.seccomp_profile);
  } catch (err) {
    throw new HostSettingError('runtime.seccomp_profile', errorMessage(err));
  }
  if (seccomp.source === 'file') log.info({ profile: seccomp.path }, 'RuntimeDefault seccomp profile read');
  else log.warn({ profile: seccomp.path, reason: seccomp.reason }, 'RuntimeDefault seccomp profile: using the built-in copy');
}
