// Which sysctls belong to a namespace a pod or container has of its own (and
// so may be set for it), as kubelet's safe and unsafe sysctl lists assume.
const NAMESPACED_SYSCTL_PREFIXES = ['kernel.shm', 'kernel.msg', 'fs.mqueue.', 'net.'];

export function isNamespacedSysctl(name: string): boolean {
  return name === 'kernel.sem' || name === 'kernel.hostname' || name === 'kernel.domainname'
    || NAMESPACED_SYSCTL_PREFIXES.some((p) => name.startsWith(p));
}
