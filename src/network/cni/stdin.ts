// The per-plugin configuration a runtime writes on a plugin's stdin and the
// environment it runs with (CNI spec, "Deriving execution configuration").
import type { Attachment, CniResult, NetConfList, PluginConf } from './types.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'VERSION';

/**
 * The plugin's own object plus `name` and `cniVersion` of the list,
 * `runtimeConfig` with only the capabilities it declares, and the previous
 * result when there is one.
 */
export function pluginStdin(list: NetConfList, plugin: PluginConf, capabilityArgs: Record<string, unknown>, prevResult?: CniResult): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  const rc: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on && capabilityArgs[cap] !== undefined) rc[cap] = capabilityArgs[cap];
  }
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  else delete conf.runtimeConfig;
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

export function cniArgs(args: [string, string][]): string {
  return args.map(([k, v]) => `${k}=${v}`).join(';');
}

/** CNI_* variables; the daemon's own environment stays (plugins need PATH for iptables and friends). */
export function pluginEnv(command: CniCommand, binDirs: string[], att?: Attachment): Record<string, string> {
  const env: Record<string, string> = { CNI_COMMAND: command, CNI_PATH: binDirs.join(':') };
  if (att) {
    env.CNI_CONTAINERID = att.containerId;
    env.CNI_NETNS = att.netns;
    env.CNI_IFNAME = att.ifName;
    env.CNI_ARGS = cniArgs(att.args);
  }
  return env;
}
