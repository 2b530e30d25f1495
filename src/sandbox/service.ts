import { mkdir, rm, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { sandboxFailure } from './failures.js';
import type { EventBus } from '../events/bus.js';
import type { RuntimeHandlers } from '../runtime/handlers.js';
import type { PodNetwork, PodNetworkRequest } from '../network/pod-network.js';
import { errorMessage, failedPrecondition, invalidArgument } from '../util/errors.js';
import { newId } from '../util/ids.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { RecordError, listDir } from '../store/records.js';
import { isNamespacedSysctl } from './sysctl.js';
import type { Sandbox, SandboxConfig, SandboxPaths } from './types.js';
import { SandboxStore, type SandboxFilter } from './store.js';
import { pinNamespaces, mountShm, startInfra, stopInfra, findInfraProcesses } from './host.js';
import { unmountAll } from '../util/mount.js';
import { removeCgroup, cgroupRoots } from '../cgroup/host.js';
import { MonitorCgroups } from '../cgroup/monitors.js';
import { isNamespace } from '../util/netns.js';
import { hostsFile, resolvConf } from './dns.js';
import { span } from '../tracing/tracing.js';
import { hostCgroups, resizePodCgroup, type PodResourceRequest } from './resize.js';

export type { SandboxFilter } from './store.js';

/**
 * Pod sandboxes: the namespaces, /dev/shm, DNS files, infra process and
 * network a pod's containers share. Stopping and removing a pod's
 * containers is the caller's (src/pod/), before the calls here.
 */
export class SandboxService {
  private readonly store: SandboxStore;
  private readonly locks = new KeyedLock();
  // Errors that came from the pod network (CNI), for the failure metric's fault.
  private readonly networkErrors = new WeakSet<object>();
  private readonly monitors: MonitorCgroups;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly handlers: RuntimeHandlers,
    private readonly metrics: Metrics,
    events: EventBus,
    private readonly network?: PodNetwork,
  ) {
    this.store = new SandboxStore(join(config.daemon.root, 'sandboxes'), events, log);
    this.monitors = new MonitorCgroups(config.runtime.conmon_cgroup);
  }

  /** Moves a monitor of the pod (its infra process, a container's conmon) out of berthd's cgroup. */
  placeMonitor(pid: number, sb: Sandbox): void {
    this.monitors.place(pid, sb.cgroupParent);
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

  /** Resolves a full ID or unique prefix; NOT_FOUND when unknown. */
  resolve(id: string, field = 'pod_sandbox_id'): Sandbox {
    return this.store.resolve(id, field);
  }

  find(id: string): Sandbox | undefined {
    return this.store.get(id);
  }

  withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.with(`sandbox:${id}`, fn);
  }

  list(filter: SandboxFilter = {}): Sandbox[] {
    return this.store.list(filter);
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
      this.metrics.sandboxCreateFailures.inc(sandboxFailure(err, this.networkErrors.has(err as object)));
      throw err;
    }
  }

  private async create(c: SandboxConfig, handlerName: string): Promise<string> {
    this.validate(c);
    const handler = this.handlers.get(handlerName);
    if (!handler) throw invalidArgument(`runtime_handler "${handlerName}" is not configured (known: ${this.handlers.list().map((h) => h.name).join(', ')})`);
    if (!handler.usable) throw failedPrecondition(`runtime_handler "${handler.name}" cannot run on this host: ${handler.reason}`);
    const id = newId();
    const ownsCgroup = !c.cgroupParent;
    const sb: Sandbox = {
      id, config: c, handler: handler.name, createdAt: Date.now(), state: 'NOTREADY', phase: 'creating',
      cgroupParent: c.cgroupParent || `${this.config.runtime.cgroup_parent.replace(/\/$/, '')}/${id}`,
      ownsCgroup, ips: [],
    };
    this.store.reserve(sb);
    try {
      await this.withLock(id, async () => {
        // Written before anything is made on the host: a restart finds what a
        // cut-short RunPodSandbox made through this record and removes it.
        this.store.update(sb, () => undefined);
        await span('sandbox.setup', { 'sandbox.id': sb.id }, () => this.setUp(sb));
        this.store.update(sb, (x) => {
          x.state = 'READY';
          x.phase = 'created';
          return ['created', 'started'];
        });
      });
    } catch (err) {
      this.log.warn({ sandbox: id, err: errorMessage(err) }, 'RunPodSandbox failed; undoing');
      await this.tearDown(sb).catch((e) => this.log.error({ sandbox: id, err: errorMessage(e) }, 'cleanup after failed RunPodSandbox failed'));
      await this.forget(sb);
      throw err;
    }
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
      ns.pid === 'POD' ? startInfra(this.config.runtime.infra, p.pidns, (pid) => this.placeMonitor(pid, sb)).then((pid) => { sb.infraPid = pid; }) : Promise.resolve(),
      writeFile(p.resolvConf, await resolvConf(sb.config.dns)),
      writeFile(p.hostname, `${hostname}\n`),
    ]);
    if (!hostNet && this.network) {
      const res = await span('cni.add', { 'sandbox.id': sb.id }, () => this.network!.setUp(this.networkRequest(sb))).catch((err: unknown) => {
        if (err && typeof err === 'object') this.networkErrors.add(err);
        throw err;
      });
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
    await this.monitors.forgetPod(sb.cgroupParent);
    if (sb.ownsCgroup) await removeCgroup(sb.cgroupParent);
    this.store.delete(sb);
  }

  /**
   * The first step of stopping or removing a pod, before its containers go:
   * NOTREADY, recorded, under the pod's lock, so no container is created in
   * it any more (CreateContainer checks READY under the same lock) and a
   * restart finishes the teardown. Idempotent.
   */
  async markNotReady(sb: Sandbox): Promise<void> {
    await this.withLock(sb.id, async () => {
      if (sb.state === 'NOTREADY' || this.store.get(sb.id) !== sb) return;
      this.store.update(sb, (x) => {
        x.state = 'NOTREADY';
        return 'stopped';
      });
    });
  }

  /** Tears down a pod whose containers are stopped: network, namespaces, mounts, infra process. */
  async stop(sb: Sandbox): Promise<void> {
    await this.markNotReady(sb);
    await this.withLock(sb.id, () => this.tearDown(sb));
  }

  /** Removes a pod whose containers are gone. Idempotent. */
  async remove(sb: Sandbox): Promise<void> {
    await this.markNotReady(sb);
    await this.withLock(sb.id, async () => {
      if (this.store.get(sb.id) !== sb) return;
      await this.tearDown(sb);
      // Published while the pod is still known: the event carries its last status.
      this.store.publish(sb, 'deleted');
      await this.forget(sb);
    });
  }

  /**
   * In-place pod resize: the pod's cgroup gets the limits, and its record
   * what was set. Under the pod's lock, so a pod being stopped is not
   * resized meanwhile.
   */
  async updateResources(id: string, req: PodResourceRequest): Promise<void> {
    const sb = this.resolve(id);
    await this.withLock(sb.id, async () => {
      if (sb.state !== 'READY') throw failedPrecondition(`pod sandbox ${sb.id} is not ready (state ${sb.state})`);
      const limits = resizePodCgroup(hostCgroups(), sb.cgroupParent, req);
      this.store.update(sb, (x) => {
        x.resources = limits;
      });
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

  /**
   * Loads every pod after a (re)start and matches it against the host: a
   * RunPodSandbox cut short is undone, a stop cut short finished, a READY pod
   * whose namespaces or infra process are gone is NOTREADY; namespaces,
   * mounts and infra processes of pods no record names are removed.
   */
  async restore(): Promise<void> {
    const dir = join(this.config.daemon.root, 'sandboxes');
    const stateDir = join(this.config.daemon.state, 'sandboxes');
    const infra = await findInfraProcesses(stateDir);
    for (const id of await listDir(dir)) {
      let sb: Sandbox | undefined;
      try {
        sb = await this.store.load(id);
      } catch (err) {
        // A record a power failure left empty or torn counts as absent.
        if (!(err instanceof RecordError)) throw err;
        this.log.warn({ sandbox: id, err: err.message }, 'unreadable sandbox record; removing the sandbox\'s files');
      }
      if (!sb) {
        await rm(join(dir, id), { recursive: true, force: true });
        continue;
      }
      // The infra PID is in the record once RunPodSandbox finished; before, the process is found by its namespace file.
      sb.infraPid ??= infra.get(id);
      this.store.adopt(sb);
      try {
        await this.reconcile(sb, infra.has(id));
      } catch (err) {
        this.log.error({ sandbox: id, err: errorMessage(err) }, 'restoring sandbox failed');
      }
    }
    for (const id of await listDir(stateDir)) {
      if (this.store.get(id)) continue;
      this.log.info({ sandbox: id }, 'removing namespaces and mounts of a pod berthd has no record of');
      const p = this.paths(id);
      const pid = infra.get(id);
      if (pid) await stopInfra(pid, p.pidns);
      await unmountAll([p.netns, p.ipcns, p.utsns, p.pidns, p.shm]);
      await rm(p.dir, { recursive: true, force: true });
    }
  }

  private async reconcile(sb: Sandbox, infraAlive: boolean): Promise<void> {
    if (sb.phase === 'creating') {
      this.log.info({ sandbox: sb.id }, 'removing a sandbox whose creation was interrupted');
      await this.tearDown(sb).catch((e) => this.log.warn({ sandbox: sb.id, err: errorMessage(e) }, 'teardown of interrupted sandbox failed'));
      await this.forget(sb);
      return;
    }
    if (sb.state === 'READY') {
      const whole = (await this.stillPinned(sb)) && (sb.config.namespaces.pid !== 'POD' || infraAlive);
      if (whole) return;
      // The namespaces or the infra process went away (reboot, manual cleanup): the pod can no longer run containers.
      this.log.info({ sandbox: sb.id }, 'pod sandbox lost its namespaces or infra process; it is NOTREADY');
      this.store.update(sb, (x) => {
        x.state = 'NOTREADY';
        return 'stopped';
      });
    }
    // A stop cut short leaves part of the teardown: finish it (each step is idempotent).
    await this.tearDown(sb).catch((e) => this.log.warn({ sandbox: sb.id, err: errorMessage(e) }, 'finishing the teardown of a stopped pod failed'));
  }

  /** IDs of every sandbox berthd knows, for cleanups of what belongs to none. */
  ids(): Set<string> {
    return this.store.ids();
  }

  private async stillPinned(sb: Sandbox): Promise<boolean> {
    if (sb.config.namespaces.network === 'NODE') return true;
    return isNamespace(this.paths(sb.id).netns);
  }

  /**
   * Pod cgroups under berthd's cgroup parent that no pod owns (a RunPodSandbox
   * or removal cut short); run after the containers are restored, whose
   * runtime deletes empty them.
   */
  async sweepCgroups(): Promise<void> {
    const parent = this.config.runtime.cgroup_parent.replace(/\/$/, '');
    const known = new Set(this.store.all().filter((sb) => sb.ownsCgroup).map((sb) => sb.cgroupParent));
    for (const root of await cgroupRoots()) {
      for (const id of await listDir(join(root, parent))) {
        const path = `${parent}/${id}`;
        if (!/^[0-9a-f]{64}$/.test(id) || known.has(path)) continue;
        await this.monitors.forgetPod(path);
        await removeCgroup(path);
      }
    }
  }

  /** Removes the default cgroup parent if no pod uses it any more, and a dedicated monitors' cgroup left empty (daemon shutdown). */
  async cleanupCgroupParent(): Promise<void> {
    await this.monitors.close();
    if (this.store.size === 0) await removeCgroup(this.config.runtime.cgroup_parent);
  }
}

