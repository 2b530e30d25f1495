// Parsing of network configuration files: `.conflist` (a list) and `.conf` /
// `.json` (a single plugin), any supported version. Pure: the directory scan
// lives in loader.ts.
import type { NetConfList, PluginConf } from './types.js';
import { isSupported, pickVersion, SUPPORTED_VERSIONS } from './version.js';

export const CONF_EXTENSIONS = ['.conf', '.conflist', '.json'] as const;

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function isConfFile(name: string): boolean {
  return !name.startsWith('.') && CONF_EXTENSIONS.some((e) => name.endsWith(e));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkPlugin(p: unknown, where: string): PluginConf {
  if (!isObject(p)) throw new Error(`${where} is not an object`);
  if (typeof p.type !== 'string' || p.type === '') throw new Error(`${where} has no "type"`);
  if (/[/\\]/.test(p.type) || p.type.startsWith('.')) throw new Error(`${where}: plugin type "${p.type}" is not a plain binary name`);
  if (p.capabilities !== undefined && !isObject(p.capabilities)) throw new Error(`${where}: "capabilities" must be an object`);
  if (p.ipam !== undefined && !isObject(p.ipam)) throw new Error(`${where}: "ipam" must be an object`);
  return p as PluginConf;
}

function version(o: Record<string, unknown>): string {
  // 1.1.0 lists may carry `cniVersions`; the highest one we speak wins over cniVersion.
  if (Array.isArray(o.cniVersions)) {
    const v = pickVersion(o.cniVersions);
    if (v) return v;
  }
  const v = o.cniVersion;
  if (typeof v !== 'string' || v === '') throw new Error('has no "cniVersion"');
  if (!isSupported(v)) throw new Error(`cniVersion "${v}" is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  return v;
}

/** Parses one file's text; throws an Error saying what is wrong. */
export function parseConf(fileName: string, text: string): NetConfList {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (err) {
    throw new Error(`not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(o)) throw new Error('is not a JSON object');
  if (typeof o.name !== 'string' || !NAME_RE.test(o.name)) throw new Error('has no valid "name"');
  const cniVersion = version(o);
  if (fileName.endsWith('.conflist')) {
    if (!Array.isArray(o.plugins) || o.plugins.length === 0) throw new Error('has no "plugins"');
    const plugins = o.plugins.map((p, i) => checkPlugin(p, `plugins[${i}]`));
    return { cniVersion, name: o.name, disableCheck: o.disableCheck === true || o.disableCheck === 'true', plugins };
  }
  if (Array.isArray(o.plugins)) throw new Error('has "plugins": a list belongs in a .conflist file');
  const plugin = checkPlugin(o, 'the plugin');
  return { cniVersion, name: o.name, disableCheck: false, plugins: [plugin] };
}

/** Every plugin binary the list needs: the chain's types and their IPAM plugins. */
export function pluginTypes(list: NetConfList): string[] {
  const out = new Set<string>();
  for (const p of list.plugins) {
    out.add(p.type);
    if (typeof p.ipam?.type === 'string' && p.ipam.type !== '') out.add(p.ipam.type);
  }
  return [...out];
}
