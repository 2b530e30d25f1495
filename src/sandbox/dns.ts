import { readFile } from 'node:fs/promises';

/** /etc/resolv.conf of a pod: its DNSConfig, or the host's file when it gives none. */
export async function resolvConf(dns: { servers: string[]; searches: string[]; options: string[] } | undefined): Promise<string> {
  if (!dns || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) {
    return readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  }
  const lines: string[] = [];
  if (dns.searches.length) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length) lines.push(`options ${dns.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** /etc/hosts of a pod: loopback names plus the pod's hostname on its first IP. */
export function hostsFile(hostname: string, ips: string[]): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  if (hostname) lines.push(`${ips[0] ?? '127.0.1.1'}\t${hostname}`);
  return `${lines.join('\n')}\n`;
}
