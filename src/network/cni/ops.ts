// The network operations on a whole configuration list: ADD chains results
// through the plugins in order, DEL walks them in reverse with the cached
// result, CHECK and STATUS where the list's version has them.
import type { Attachment, CniResult, NetConfList, PluginConf } from './types.js';
import { pluginEnv, pluginStdin, type CniCommand } from './stdin.js';
import { execPlugin, findPlugin, CniPluginError } from './exec.js';
import { hasCheck, hasDelPrevResult, hasStatus } from './version.js';

export interface ExecOptions {
  binDirs: string[];
  timeoutMs: number;
}

function locate(plugin: PluginConf, command: CniCommand, o: ExecOptions): string {
  const path = findPlugin(plugin.type, o.binDirs);
  if (!path) throw new CniPluginError(plugin.type, command, undefined, `plugin binary "${plugin.type}" not found in ${o.binDirs.join(', ')}`);
  return path;
}

async function invoke(command: CniCommand, list: NetConfList, plugin: PluginConf, o: ExecOptions, att?: Attachment, prev?: CniResult): Promise<Record<string, unknown>> {
  return execPlugin({
    type: plugin.type,
    path: locate(plugin, command, o),
    command,
    env: pluginEnv(command, o.binDirs, att),
    stdin: pluginStdin(list, plugin, att?.capabilityArgs ?? {}, prev),
    timeoutMs: o.timeoutMs,
  });
}

export async function addNetworkList(list: NetConfList, att: Attachment, o: ExecOptions): Promise<CniResult> {
  let prev: CniResult | undefined;
  for (const p of list.plugins) {
    prev = (await invoke('ADD', list, p, o, att, prev)) as CniResult;
  }
  return prev!;
}

/**
 * Every plugin is run even when one fails, so one broken plugin does not
 * strand the others' state; the first error is thrown at the end.
 */
export async function delNetworkList(list: NetConfList, att: Attachment, cached: CniResult | undefined, o: ExecOptions): Promise<void> {
  const prev = hasDelPrevResult(list.cniVersion) ? cached : undefined;
  let first: unknown;
  for (const p of [...list.plugins].reverse()) {
    try {
      await invoke('DEL', list, p, o, att, prev);
    } catch (err) {
      first ??= err;
    }
  }
  if (first) throw first;
}

/** Resolves false when the version has no CHECK or the list disables it. */
export async function checkNetworkList(list: NetConfList, att: Attachment, cached: CniResult, o: ExecOptions): Promise<boolean> {
  if (!hasCheck(list.cniVersion) || list.disableCheck) return false;
  for (const p of list.plugins) await invoke('CHECK', list, p, o, att, cached);
  return true;
}

/** STATUS of every plugin (1.1.0 lists); resolves false when the version has none. */
export async function statusNetworkList(list: NetConfList, o: ExecOptions): Promise<boolean> {
  if (!hasStatus(list.cniVersion)) return false;
  for (const p of list.plugins) await invoke('STATUS', list, p, o);
  return true;
}
