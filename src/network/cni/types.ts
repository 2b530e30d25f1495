// Shapes of the CNI specification (network configuration lists, results,
// errors) as Berth reads and writes them. Plugin-specific keys pass through
// untouched, hence the index signatures.

/** One plugin of a network configuration list. */
export interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  ipam?: { type?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** A network configuration list, normalised: a single-plugin `.conf` becomes a list of one. */
export interface NetConfList {
  cniVersion: string;
  name: string;
  disableCheck: boolean;
  plugins: PluginConf[];
}

/** A loaded configuration and the file it came from. */
export interface LoadedConf {
  file: string;
  list: NetConfList;
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
  /** Present in 0.3.x/0.4.0 results only. */
  version?: string;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: CniIp[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
  [k: string]: unknown;
}

/** The error object a plugin prints on stdout when it fails. */
export interface CniErrorBody {
  cniVersion?: string;
  code?: number;
  msg?: string;
  details?: string;
}

/** What a network operation needs to know about the pod (CNI_* parameters and runtimeConfig). */
export interface Attachment {
  containerId: string;
  /** Empty when the namespace is gone (DEL after a reboot). */
  netns: string;
  ifName: string;
  /** CNI_ARGS as key=value pairs, in order. */
  args: [string, string][];
  /** Every capability value the runtime can offer; each plugin gets the ones it declares. */
  capabilityArgs: Record<string, unknown>;
}
