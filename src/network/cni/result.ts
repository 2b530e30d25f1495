// Reading pod IPs out of a result (0.3.x, 0.4.0 and 1.x share the `ips` shape).
import type { CniResult } from './types.js';

/**
 * Addresses on interfaces inside the pod (or with no interface named),
 * without prefix length, IPv4 first: kubelet takes the first as the pod IP.
 */
export function podIps(r: CniResult | undefined): string[] {
  if (!r) return [];
  const ifs = r.interfaces ?? [];
  const ips = (r.ips ?? []).filter((ip) => {
    if (ip.interface === undefined) return true;
    const itf = ifs[ip.interface];
    return !itf || !!itf.sandbox;
  }).map((ip) => ip.address.split('/')[0]!);
  return [...ips.filter((a) => !a.includes(':')), ...ips.filter((a) => a.includes(':'))];
}
