// The network Berth writes when the config directory has none: a bridge with
// host-local IPAM and portmap for host ports. Loopback needs no plugin: the
// sandbox service brings `lo` up when it creates the namespace.
//
// The file is named to sort after every network a cluster installs (calico,
// flannel, kindnet, cilium… write 05- to 10- files): the lexically first file
// is the one in force, so a cluster network installed later takes over for
// new pods without anyone removing berth's.

export const DEFAULT_CONF_FILE = '99-berth.conflist';
export const DEFAULT_NETWORK_NAME = 'berth';

export interface DefaultNetworkOptions {
  bridge: string;
  /** One CIDR, or a comma-separated IPv4,IPv6 pair (UpdateRuntimeConfig may send one). */
  subnet: string;
  ipMasq: boolean;
  /** host-local's state directory: per daemon, so reservations live with the daemon's root. */
  ipamDataDir: string;
}

export function defaultConfList(o: DefaultNetworkOptions): Record<string, unknown> {
  const subnets = o.subnet.split(',').map((s) => s.trim()).filter(Boolean);
  return {
    cniVersion: '1.0.0',
    name: DEFAULT_NETWORK_NAME,
    plugins: [
      {
        type: 'bridge',
        bridge: o.bridge,
        isGateway: true,
        ipMasq: o.ipMasq,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: subnets.map((subnet) => [{ subnet }]),
          routes: subnets.map((s) => ({ dst: s.includes(':') ? '::/0' : '0.0.0.0/0' })),
          dataDir: o.ipamDataDir,
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}
