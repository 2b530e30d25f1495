import { mkdir, rm, readdir, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EventBus, ContainerEventType } from '../events/bus.js';
import type { RuntimeHandlers } from '../runtime/handlers.js';
import type { PodNetwork, PodNetworkRequest } from '../network/pod-network.js';
import { alreadyExists, errorMessage, failedPrecondition, invalidArgument, BerthError, unlessNotFound } from '../util/errors.js';
import { newId, resolveId } from '../util/ids.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { readJson, replaceFile } from '../util/atomic-file.js';
import { isNamespacedSysctl } from '../container/spec.js';
import type { Sandbox, SandboxConfig, SandboxPaths, SandboxState } from './types.js';
import { pinNamespaces, mountShm, unmountAll, startInfra, stopInfra, removeCgroup } from './host.js';
import { isNamespace } from '../util/netns.js';
import { hostsFile, resolvConf } from './dns.js';
import { span } from '../tracing/tracing.js';

/** What the sandbox service needs from the container service (set after both exist). */
export interface PodContainers {
  /** Stops every container of the pod, SIGKILL after `timeoutSeconds`. */
  stopAll(sandboxId: string, timeoutSeconds: number): Promise<void>;
  /** Removes every container of the pod. */
  removeAll(sandboxId: string): Promise<void>;
}

export interface SandboxFilter {
  id?: string;
  state?: SandboxState;
  labels?: Record<string, string>;
}

export function sandboxReservedName(c: Pick<SandboxConfig, 'name' | 'namespace' | 'uid' | 'attempt'>): string {
  return `${c.name}_${c.namespace}_${c.uid}_${c.attempt}`;
}

export class SandboxService {
  private readonly sandboxes = new Map<string, Sandbox>();
  private readonly names = new Map<string, string>();
  private readonly locks = new KeyedLock();
  containers?: PodContainers;
  /**
   * Where pod lifecycle events go (set after construction, like `containers`).
   * As containerd does, a pod's own events carry its ID as the container ID, so
   * kubelet's evented PLEG learns of sandbox changes without relisting.
   */
  events?: EventBus;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly handlers: RuntimeHandlers,
    private readonly metrics: Metrics,
    private readonly network?: PodNetwork,
  ) {}

  private publish(type: ContainerEventType, sb: Sandbox): void {
    this.events?.publish({ type, containerId: sb.id, podSandboxId: sb.id, at: Date.now() });
  }

  private metaPath(id: string): string {
    return join(this.config.daemon.root, 'sandboxes', id, 'sandbox.json');
  }

  paths(id: string): SandboxPaths {
    const dir = join(this.config.daemon.state, 'sandboxes', id);
    return {
      dir,
      netns: join(dir, 'ns', 'net'),
      ipcns: join(dir, 'ns', 'ipc'),
      utsns: join(dir, 'ns', 'uts'),
      pidns: join(dir, 'ns', 'pid'),
      shm: join(dir, 'shm'),
      hosts: join(dir, 'hosts'),
      resolvConf: join(dir, 'resolv.conf'),
      hostname: join(dir, 'hostname'),
    };
  }

  // Atomic against a daemon crash at any instant; flushed to disk behind the
  // call (see replaceFile): after a power failure the pod's namespaces,
  // mounts and processes are gone as well.
  private save(sb: Sandbox): void {
    replaceFile(this.metaPath(sb.id), JSON.stringify(sb), (err) => this.log.warn({ sandbox: sb.id, err: err.message }, 'flushing the sandbox record to disk failed'));
  }

  /** Resolves a full ID or unique prefix; NOT_FOUND when unknown. */
  resolve(id: string, field = 'pod_sandbox_id'): Sandbox {
    return this.sandboxes.get(resolveId('pod sandbox', field, id, this.sandboxes.keys()))!;
  }

  find(id: string): Sandbox | undefined {
    return this.sandboxes.get(id);
  }

  withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.with(`sandbox:${id}`, fn);
  }

  list(filter: SandboxFilter = {}): Sandbox[] {
    const out: Sandbox[] = [];
    for (const sb of this.sandboxes.values()) {
      if (sb.phase !== 'created') continue;
      if (filter.id && !sb.id.startsWith(filter.id)) continue;
      if (filter.state && sb.state !== filter.state) continue;
      if (filter.labels && Object.entries(filter.labels).some(([k, v]) => sb.config.labels[k] !== v)) continue;
      out.push(sb);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  private validate(c: SandboxConfig): void {
    if (!c.name) throw invalidArgument('config.metadata.name is required');
    if (!c.namespace) throw invalidArgument('config.metadata.namespace is required');
    if (!c.uid) throw invalidArgument('config.metadata.uid is required');
    if (c.logDirectory && !c.logDirectory.startsWith('/')) throw invalidArgument(`config.log_directory "${c.logDirectory}" must be an absolute path`);
    if (c.hostname && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(c.hostname)) throw invalidArgument(`config.hostname "${c.hostname}" is not a valid hostname`);
    if (c.namespaces.pid === 'TARGET') throw invalidArgument('config.linux.security_context.namespace_options.pid: TARGET applies to containers, not pods');
    if (c.cgroupParent && !c.cgroupParent.startsWith('/')) throw invalidArgument(`config.linux.cgroup_parent "${c.cgroupParent}" must be an absolute cgroupfs path`);
    for (const name of Object.keys(c.sysctls)) {
      if (!isNamespacedSysctl(name)) throw invalidArgument(`config.linux.sysctls: "${name}" is not a namespaced sysctl and cannot be set for a pod`);
      if (name.startsWith('net.') && c.namespaces.network === 'NODE') throw invalidArgument(`config.linux.sysctls: "${name}" needs a pod network namespace (the pod uses the host network)`);
      if (!name.startsWith('net.') && c.namespaces.ipc === 'NODE' && !name.startsWith('kernel.hostname') && !name.startsWith('kernel.domainname')) {
        throw invalidArgument(`config.linux.sysctls: "${name}" needs a pod IPC namespace (the pod uses the host IPC)`);
      }
    }
  }

  async run(c: SandboxConfig, handlerName: string): Promise<string> {
    const start = performance.now();
    this.metrics.sandboxCreateAttempts.inc();
    try {
      const id = await this.create(c, handlerName);
      this.metrics.sandboxCreateLatency.observe((performance.now() - start) / 1000);
      return id;
    } catch (err) {
      const reason = err instanceof BerthError ? err.kind : 'Internal';
      this.metrics.sandboxCreateFailures.inc({ reason });
      throw err;
    }
  }

  private async create(c: SandboxConfig, handlerName: string): Promise<string> {
    this.validate(c);
    const handler = this.handlers.get(handlerName);
    if (!handler) throw invalidArgument(`runtime_handler "${handlerName}" is not configured (known: ${this.handlers.list().map((h) => h.name).join(', ')})`);
    if (!handler.usable) throw failedPrecondition(`runtime_handler "${handler.name}" cannot run on this host: ${handler.reason}`);
    const reserved = sandboxReservedName(c);
    const holder = this.names.get(reserved);
    if (holder) throw alreadyExists(`pod sandbox name "${reserved}" is reserved by sandbox ${holder}`);
    const id = newId();
    this.names.set(reserved, id);
    const ownsCgroup = !c.cgroupParent;
    const sb: Sandbox = {
      id, config: c, handler: handler.name, createdAt: Date.now(), state: 'NOTREADY', phase: 'creating',
      cgroupParent: c.cgroupParent || `${this.config.runtime.cgroup_parent.replace(/\/$/, '')}/${id}`,
      ownsCgroup, ips: [],
    };
    this.sandboxes.set(id, sb);
    try {
      await this.withLock(id, async () => {
        this.save(sb);
        await span('sandbox.setup', { 'sandbox.id': sb.id }, () => this.setUp(sb));
        sb.state = 'READY';
        sb.phase = 'created';
        this.save(sb);
      });
    } catch (err) {
      this.log.warn({ sandbox: id, err: errorMessage(err) }, 'RunPodSandbox failed; undoing');
      await this.tearDown(sb).catch((e) => this.log.error({ sandbox: id, err: errorMessage(e) }, 'cleanup after failed RunPodSandbox failed'));
      await this.forget(sb);
      throw err;
    }
    this.publish('created', sb);
    this.publish('started', sb);
    return id;
  }

  private networkRequest(sb: Sandbox): PodNetworkRequest {
    const c = sb.config;
    return {
      sandboxId: sb.id, name: c.name, namespace: c.namespace, uid: c.uid, netnsPath: this.paths(sb.id).netns,
      portMappings: c.portMappings, annotations: c.annotations, dns: c.dns, cgroupParent: sb.cgroupParent,
    };
  }

  private async setUp(sb: Sandbox): Promise<void> {
    const p = this.paths(sb.id);
    const ns = sb.config.namespaces;
    await mkdir(join(p.dir, 'ns'), { recursive: true, mode: 0o711 });
    const hostNet = ns.network === 'NODE';
    const hostIpc = ns.ipc === 'NODE';
    const hostname = this.hostname(sb);
    await Promise.all([
      pinNamespaces({ net: hostNet ? undefined : p.netns, ipc: hostIpc ? undefined : p.ipcns, uts: hostNet ? undefined : p.utsns }),
      hostIpc ? Promise.resolve() : mountShm(p.shm),
      ns.pid === 'POD' ? startInfra(this.config.runtime.infra, p.pidns).then((pid) => { sb.infraPid = pid; }) : Promise.resolve(),
      writeFile(p.resolvConf, await resolvConf(sb.config.dns)),
      writeFile(p.hostname, `${hostname}\n`),
    ]);
    if (!hostNet && this.network) {
      const res = await span('cni.add', { 'sandbox.id': sb.id }, () => this.network!.setUp(this.networkRequest(sb)));
      sb.ips = res.ips;
    }
    await writeFile(p.hosts, hostsFile(hostname, sb.ips));
  }

  /** Undoes setUp; safe to repeat and after a restart. */
  private async tearDown(sb: Sandbox): Promise<void> {
    const p = this.paths(sb.id);
    let netErr: unknown;
    if (sb.config.namespaces.network !== 'NODE' && this.network) {
      // A failed DEL must not strand the namespaces and mounts: the network keeps
      // what it needs to retry (its cache) and DEL works without the namespace.
      await this.network.tearDown(this.networkRequest(sb)).catch((err) => { netErr = err; });
    }
    if (sb.infraPid) await stopInfra(sb.infraPid, p.pidns);
    await unmountAll([p.netns, p.ipcns, p.utsns, p.pidns, p.shm]);
    if (netErr) throw netErr;
  }

  private async forget(sb: Sandbox): Promise<void> {
    const p = this.paths(sb.id);
    await rm(p.dir, { recursive: true, force: true });
    if (sb.ownsCgroup) await removeCgroup(sb.cgroupParent);
    await rm(join(this.config.daemon.root, 'sandboxes', sb.id), { recursive: true, force: true });
    this.sandboxes.delete(sb.id);
    if (this.names.get(sandboxReservedName(sb.config)) === sb.id) this.names.delete(sandboxReservedName(sb.config));
  }

  async stop(idOrPrefix: string): Promise<void> {
    const sb = this.resolve(idOrPrefix);
    // CRI: StopPodSandbox forcibly terminates what still runs. kubelet has
    // already given each container its grace period through StopContainer.
    await this.containers?.stopAll(sb.id, 0);
    await this.withLock(sb.id, async () => {
      await this.tearDown(sb);
      if (sb.state !== 'NOTREADY') {
        sb.state = 'NOTREADY';
        this.save(sb);
        this.publish('stopped', sb);
      }
    });
  }

  /** Idempotent: an unknown ID is not an error (kubelet retries removals). */
  async remove(idOrPrefix: string): Promise<void> {
    const sb = unlessNotFound(() => this.resolve(idOrPrefix));
    if (!sb) return;
    await this.containers?.stopAll(sb.id, 0);
    await this.containers?.removeAll(sb.id);
    await this.withLock(sb.id, async () => {
      if (!this.sandboxes.has(sb.id)) return;
      await this.tearDown(sb);
      if (sb.state !== 'NOTREADY') {
        sb.state = 'NOTREADY';
        this.publish('stopped', sb);
      }
      // Published while the pod is still known: the event carries its last status.
      this.publish('deleted', sb);
      await this.forget(sb);
    });
  }

  /** The network's verdict on a pod's attachment, for verbose status: never throws. */
  async checkNetwork(sb: Sandbox): Promise<string> {
    if (sb.config.namespaces.network === 'NODE') return 'host network';
    if (!this.network?.check) return 'unsupported';
    try {
      return await this.network.check(this.networkRequest(sb));
    } catch (err) {
      return `failed: ${errorMessage(err)}`;
    }
  }

  hostname(sb: Sandbox): string {
    return sb.config.namespaces.network === 'NODE' ? osHostname() : (sb.config.hostname || sb.config.name.slice(0, 63));
  }

  /** Loads every sandbox after a (re)start; finishes or undoes RunPodSandbox calls cut in half. */
  async restore(): Promise<void> {
    const dir = join(this.config.daemon.root, 'sandboxes');
    const ids = await readdir(dir).catch(() => [] as string[]);
    for (const id of ids) {
      // A record a power failure left empty or torn counts as absent.
      const sb = await readJson<Sandbox>(join(dir, id, 'sandbox.json')).catch((err: Error) => {
        this.log.warn({ sandbox: id, err: err.message }, 'unreadable sandbox record; removing the sandbox\'s files');
        return undefined;
      });
      if (!sb) {
        await rm(join(dir, id), { recursive: true, force: true });
        continue;
      }
      this.sandboxes.set(id, sb);
      this.names.set(sandboxReservedName(sb.config), id);
      if (sb.phase === 'creating') {
        this.log.info({ sandbox: id }, 'removing a sandbox whose creation was interrupted');
        await this.tearDown(sb).catch((e) => this.log.warn({ sandbox: id, err: errorMessage(e) }, 'teardown of interrupted sandbox failed'));
        await this.forget(sb);
        continue;
      }
      if (sb.state === 'READY' && !(await this.stillPinned(sb))) {
        // The namespaces went away (reboot, manual cleanup): the pod can no longer run containers.
        sb.state = 'NOTREADY';
        this.save(sb);
      }
    }
  }

  /** IDs of every sandbox berthd knows, for cleanups of what belongs to none. */
  ids(): Set<string> {
    return new Set(this.sandboxes.keys());
  }

  private async stillPinned(sb: Sandbox): Promise<boolean> {
    if (sb.config.namespaces.network === 'NODE') return true;
    return isNamespace(this.paths(sb.id).netns);
  }

  /** Removes the default cgroup parent if no pod uses it any more (daemon shutdown). */
  async cleanupCgroupParent(): Promise<void> {
    if (this.sandboxes.size === 0) await removeCgroup(this.config.runtime.cgroup_parent);
  }
}
