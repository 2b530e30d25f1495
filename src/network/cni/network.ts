// Pod networking through CNI: the PodNetwork the sandbox service calls, and
// the NetworkReady condition Status reports.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config/config.js';
import type { Logger } from '../../log/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import { BerthError, errorMessage, failedPrecondition, invalidArgument } from '../../util/errors.js';
import type { PodNetwork, PodNetworkRequest, PodNetworkResult } from '../pod-network.js';
import type { NetworkReadiness } from '../status.js';
import { ConfigDir } from './loader.js';
import { pluginTypes } from './config.js';
import { findPlugin, CniPluginError } from './exec.js';
import { addNetworkList, checkNetworkList, delNetworkList, statusNetworkList, type ExecOptions } from './ops.js';
import { AttachmentCache, type CacheEntry } from './cache.js';
import { capabilityArgs, podArgs } from './capabilities.js';
import { podIps } from './result.js';
import { defaultConfList, DEFAULT_CONF_FILE } from './default-config.js';
import { isNamespace } from '../../util/netns.js';
import { run } from '../../util/run.js';
import { hasStatus } from './version.js';
import type { Attachment, LoadedConf } from './types.js';

const NOT_READY = 'NetworkPluginNotReady';
const IFNAME = 'eth0';
/** How long a STATUS answer (1.1.0 networks) is trusted before asking again. */
const STATUS_TTL_MS = 5000;

interface Probe {
  key: string;
  at: number;
  problem?: string;
  running: boolean;
}

export class CniNetwork implements PodNetwork {
  private readonly dir: ConfigDir;
  private readonly cache: AttachmentCache;
  private readonly probeKeys = new WeakMap<LoadedConf, string>();
  private readonly exec: ExecOptions;
  private cidr = '';
  private probe?: Probe;
  /** The file of the network in force when last looked at, to log when another takes over. */
  private inForce?: string;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.dir = new ConfigDir(config.network.cni_conf_dir);
    this.cache = new AttachmentCache(config.network.cni_cache_dir);
    this.exec = { binDirs: config.network.cni_bin_dirs, timeoutMs: config.network.plugin_timeout * 1000 };
  }

  private get defaultFile(): string {
    return join(this.config.network.cni_conf_dir, DEFAULT_CONF_FILE);
  }

  private writeDefault(): void {
    const subnet = this.cidr || this.config.network.subnet;
    const list = defaultConfList({
      bridge: this.config.network.bridge,
      subnet,
      ipMasq: this.config.network.ip_masq,
      ipamDataDir: join(this.config.daemon.root, 'cni-ipam'),
    });
    mkdirSync(this.config.network.cni_conf_dir, { recursive: true, mode: 0o755 });
    writeFileSync(this.defaultFile, `${JSON.stringify(list, null, 2)}\n`, { mode: 0o644 });
    this.dir.invalidate();
    this.log.info({ file: this.defaultFile, bridge: this.config.network.bridge, subnet }, 'wrote the default CNI network');
  }

  /** The configuration in force, writing the default one first when the directory has none. */
  private load(): { conf?: LoadedConf; readiness: NetworkReadiness } {
    let st = this.dir.current();
    if (st.empty && this.config.network.write_default_config) {
      try {
        this.writeDefault();
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'cannot write the default CNI network');
      }
      st = this.dir.current();
    }
    this.noteInForce(st.conf);
    if (!st.conf) {
      const why = st.problems.length ? `: ${st.problems.join('; ')}` : '';
      return { readiness: { ready: false, reason: NOT_READY, message: `no valid CNI network config in ${this.dir.dir}${why}` } };
    }
    const { file, list } = st.conf;
    const missing = pluginTypes(list).filter((t) => !findPlugin(t, this.exec.binDirs));
    if (missing.length) {
      return {
        conf: st.conf,
        readiness: {
          ready: false, reason: NOT_READY,
          message: `network "${list.name}" (${file}) needs CNI plugin ${missing.join(', ')}, not found in ${this.exec.binDirs.join(', ')}`,
        },
      };
    }
    const problem = this.statusProblem(st.conf);
    if (problem) return { conf: st.conf, readiness: { ready: false, reason: NOT_READY, message: problem } };
    return { conf: st.conf, readiness: { ready: true, reason: '', message: '' } };
  }

  /**
   * Logs the moment another file's network takes over (a cluster network
   * installed, berth's default back after it went): from then on new pods
   * get it, while pods already set up keep theirs until their DEL.
   */
  private noteInForce(conf: LoadedConf | undefined): void {
    const file = conf?.file ?? '';
    if (this.inForce === undefined || file === this.inForce) {
      this.inForce = file;
      return;
    }
    this.log.info({ file: file || undefined, network: conf?.list.name, was: this.inForce || undefined }, conf ? 'CNI network in force changed' : 'no CNI network in force');
    this.inForce = file;
  }

  /** The last STATUS answer for this network (1.1.0), refreshed in the background when stale. */
  private statusProblem(conf: LoadedConf): string | undefined {
    if (!hasStatus(conf.list.cniVersion)) return undefined;
    let key = this.probeKeys.get(conf);
    if (key === undefined) {
      // Per parsed config, not per call: Status asks this often.
      key = `${conf.file}:${JSON.stringify(conf.list)}`;
      this.probeKeys.set(conf, key);
    }
    const p = this.probe?.key === key ? this.probe : undefined;
    if (!p || (!p.running && Date.now() - p.at > STATUS_TTL_MS)) {
      const next: Probe = { key, at: Date.now(), running: true, problem: p?.problem };
      this.probe = next;
      statusNetworkList(conf.list, this.exec).then(
        () => { next.problem = undefined; },
        (err: unknown) => { next.problem = `network "${conf.list.name}" is not ready: ${errorMessage(err)}`; },
      ).finally(() => { next.running = false; next.at = Date.now(); });
    }
    return p?.problem;
  }

  status(): NetworkReadiness {
    return this.load().readiness;
  }

  /** Called at daemon start: writes the default network if needed and logs the state. */
  init(): void {
    mkdirSync(this.config.network.cni_cache_dir, { recursive: true, mode: 0o700 });
    const { conf, readiness } = this.load();
    if (readiness.ready) this.log.info({ network: conf?.list.name, file: conf?.file }, 'CNI network ready');
    else this.log.warn({ reason: readiness.reason, message: readiness.message }, 'CNI network not ready');
  }

  async setPodCidr(cidr: string): Promise<void> {
    const changed = cidr !== this.cidr;
    this.cidr = cidr;
    const st = this.dir.current();
    // Only a network Berth wrote follows the pod CIDR; an administrator's file is theirs.
    if (!changed || !this.config.network.write_default_config || st.conf?.file !== this.defaultFile) return;
    this.writeDefault();
    await this.readdressBridge();
  }

  /**
   * The bridge plugin refuses a bridge whose address is outside the new
   * subnet. With no pod attached the old gateway address can go (the plugin
   * sets the new one at the next ADD); with pods attached they keep it and
   * new pods fail until those are gone, which the log says.
   */
  private async readdressBridge(): Promise<void> {
    const bridge = this.config.network.bridge;
    let ports: string;
    try {
      ports = (await run('ip', ['-o', 'link', 'show', 'master', bridge])).stdout;
    } catch {
      return; // no bridge yet: the plugin creates it with the new subnet
    }
    if (ports.trim()) {
      this.log.warn({ bridge }, 'pod CIDR changed while pods are attached to the bridge; new pods need the old ones gone first');
      return;
    }
    await run('ip', ['addr', 'flush', 'dev', bridge]).catch((err) => this.log.warn({ bridge, err: errorMessage(err) }, 'cannot clear the bridge address'));
  }

  podCidr(): string {
    return this.cidr;
  }

  async setUp(req: PodNetworkRequest): Promise<PodNetworkResult> {
    const start = performance.now();
    const { conf, readiness } = this.load();
    if (!readiness.ready || !conf) {
      this.metrics.networkSetupFailures.inc({ reason: 'NotReady' });
      throw failedPrecondition(`${readiness.reason}: ${readiness.message}`);
    }
    let capArgs: Record<string, unknown>;
    try {
      capArgs = capabilityArgs(req);
    } catch (err) {
      this.metrics.networkSetupFailures.inc({ reason: 'InvalidArgument' });
      throw invalidArgument(`pod network: ${errorMessage(err)}`);
    }
    const att: Attachment = { containerId: req.sandboxId, netns: req.netnsPath, ifName: IFNAME, args: podArgs(req), capabilityArgs: capArgs };
    const entry: CacheEntry = { kind: 'berth-cni-cache/v1', file: conf.file, config: conf.list, attachment: att };
    await this.cache.save(entry);
    try {
      const result = await addNetworkList(conf.list, att, this.exec);
      await this.cache.save({ ...entry, result });
      this.metrics.networkSetupLatency.observe((performance.now() - start) / 1000);
      return { ips: podIps(result), interfaceName: IFNAME };
    } catch (err) {
      const timedOut = err instanceof CniPluginError && err.timedOut;
      this.metrics.networkSetupFailures.inc({ reason: timedOut ? 'Timeout' : 'PluginError' });
      await this.undoAdd(entry);
      throw new BerthError(timedOut ? 'DeadlineExceeded' : 'Internal', `setting up network "${conf.list.name}" for the pod: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * A failed ADD leaves whatever the plugins before the failing one made
   * (an interface, an IP, chains): DEL releases it and the entry goes with
   * it. Should DEL fail too, the entry stays for the caller's teardown and
   * for the retry at start.
   */
  private async undoAdd(e: CacheEntry): Promise<void> {
    try {
      await this.del(e);
      await this.cache.remove(e.attachment.containerId);
    } catch (err) {
      this.log.warn({ sandbox: e.attachment.containerId, err: errorMessage(err) }, 'DEL after a failed ADD failed; its cache entry stays for another attempt');
    }
  }

  async tearDown(req: PodNetworkRequest): Promise<void> {
    const e = await this.cache.load(req.sandboxId);
    if (!e) return; // ADD never started, or DEL already finished
    try {
      await this.del(e);
    } catch (err) {
      throw new BerthError('Internal', `tearing down network "${e.config.name}" of the pod: ${errorMessage(err)}`, { cause: err });
    }
    await this.cache.remove(req.sandboxId);
  }

  /**
   * DEL of attachments whose sandbox is gone: a RunPodSandbox undone while
   * its DEL failed, or berthd killed between forgetting a pod and DEL. Runs
   * at start, after the sandboxes are restored; failures stay for next time.
   */
  async collect(live: Set<string>): Promise<void> {
    await this.cache.sweep();
    for (const id of await this.cache.list()) {
      if (live.has(id)) continue;
      const e = await this.cache.load(id);
      if (!e) {
        await this.cache.remove(id);
        continue;
      }
      try {
        await this.del(e);
        await this.cache.remove(id);
        this.log.info({ sandbox: id }, 'released the network of a sandbox that no longer exists');
      } catch (err) {
        this.log.warn({ sandbox: id, err: errorMessage(err) }, 'cannot release the network of a sandbox that no longer exists; will retry at next start');
      }
    }
  }

  /**
   * DEL of a cached attachment. A plugin that refuses the runtimeConfig it
   * was given (an entry written before berthd checked port mappings: portmap
   * rejects container port 0 on DEL as on ADD) gets a second DEL without
   * it; plugins find what to release by container ID.
   */
  private async del(e: CacheEntry): Promise<void> {
    // After a reboot the namespace is gone: plugins still release what lives outside it (IPAM, iptables).
    const netns = (await isNamespace(e.attachment.netns)) ? e.attachment.netns : '';
    try {
      await delNetworkList(e.config, { ...e.attachment, netns }, e.result, this.exec);
    } catch (err) {
      if (Object.keys(e.attachment.capabilityArgs).length === 0) throw err;
      await delNetworkList(e.config, { ...e.attachment, netns, capabilityArgs: {} }, e.result, this.exec).catch(() => {
        throw err;
      });
      this.log.warn({ sandbox: e.attachment.containerId, err: errorMessage(err) }, 'CNI DEL refused the cached runtime config; DEL without it succeeded');
    }
  }

  /** CHECK of a pod's attachment: 'ok', or why it was not checked; throws what a plugin reported. */
  async check(req: PodNetworkRequest): Promise<'ok' | 'not set up' | 'unsupported'> {
    const e = await this.cache.load(req.sandboxId);
    if (!e?.result) return 'not set up';
    const checked = await checkNetworkList(e.config, { ...e.attachment, netns: req.netnsPath }, e.result, this.exec);
    return checked ? 'ok' : 'unsupported';
  }
}
