import { mkdirSync } from 'node:fs';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { CriServer } from '../cri/server.js';
import { buildHandlers } from '../server/index.js';
import type { Services } from '../server/context.js';
import { RuntimeHandlers } from '../runtime/handlers.js';
import { CniNetwork } from '../network/cni/network.js';
import { PACKAGE_VERSION } from '../util/package-info.js';
import { Metrics } from '../metrics/metrics.js';
import { EventBus } from '../events/bus.js';
import { ImageService } from '../image/service.js';
import { SandboxService } from '../sandbox/service.js';
import { ContainerService } from '../container/service.js';
import { Pods } from '../pod/pods.js';
import { PodCheckpoints } from '../pod/checkpoint.js';
import { ContainerStreaming } from '../container/streaming.js';
import { AdminServer } from './admin.js';
import { StreamingServer } from '../streaming/server.js';
import { join } from 'node:path';
import { prepareStateDir } from './state-dir.js';
import { StatsService } from '../stats/service.js';
import { MetricsServer } from '../metrics/server.js';
import { recordStart, recordCleanStop } from './run-record.js';
import { NodeSignals } from './node-signals.js';
import { loadNativeModule } from '../util/native.js';
import { errorMessage } from '../util/errors.js';
import { Tracing } from '../tracing/tracing.js';
import { preflight } from './preflight.js';

/** berthd: owns the services and the CRI server, and their order of start and stop. */
export class Daemon {
  private constructor(
    readonly services: Services,
    private readonly server: CriServer,
    private readonly streaming: StreamingServer,
    private readonly admin: AdminServer,
    private readonly signals: NodeSignals,
    private readonly metricsServer?: MetricsServer,
    private readonly tracing?: Tracing,
  ) {}

  /** Port of the Prometheus endpoint, when it is on. */
  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  static async start(config: Config, log: Logger): Promise<Daemon> {
    preflight(config, log);
    // Fail here, not at the first mount, when the native module was not built.
    loadNativeModule();
    mkdirSync(config.daemon.root, { recursive: true, mode: 0o711 });
    const stateDir = await prepareStateDir(config.daemon.state, config.daemon.state_tmpfs);
    if (stateDir.kind === 'mounted-tmpfs') log.info({ state: config.daemon.state }, 'mounted a tmpfs on the state directory');
    if (stateDir.kind === 'disk-not-empty' || stateDir.kind === 'mount-failed') {
      const why = stateDir.kind === 'disk-not-empty' ? 'it is not empty' : `mounting one failed: ${stateDir.error ?? ''}`;
      log.warn({ state: config.daemon.state }, `state directory is on a disk filesystem and no tmpfs was mounted on it (${why}); container starts pay a journal commit for runc's pid file`);
    }
    const handlers = new RuntimeHandlers(config.runtime.handlers, config.runtime.default_handler);
    await handlers.probe();
    for (const h of handlers.list()) {
      if (!h.usable) log.warn({ handler: h.name, reason: h.reason }, 'runtime handler unusable on this host');
    }
    const tracing = await Tracing.start({
      endpoint: config.tracing.otlp_endpoint, sampleRatio: Number(config.tracing.sample_ratio), version: PACKAGE_VERSION,
    });
    if (tracing) log.info({ endpoint: config.tracing.otlp_endpoint, sampleRatio: config.tracing.sample_ratio }, 'exporting traces over OTLP/HTTP');
    const metrics = new Metrics();
    const run = await recordStart(config.daemon.root);
    metrics.daemonStarts.inc(run.starts);
    metrics.daemonUncleanRestarts.inc(run.uncleanRestarts);
    if (run.unclean) log.warn({ uncleanRestarts: run.uncleanRestarts }, 'the previous berthd did not shut down cleanly (killed, crashed or power lost); reconciling with the host');
    const images = await ImageService.open(config, log.child({ component: 'image' }), metrics);
    const events = new EventBus();
    const network = new CniNetwork(config, log.child({ component: 'network' }), metrics);
    network.init();
    const sandboxes = new SandboxService(config, log.child({ component: 'sandbox' }), handlers, metrics, events, network);
    const containers = new ContainerService(config, log.child({ component: 'container' }), handlers, metrics, events, sandboxes, images);
    const pods = new Pods(sandboxes, containers);
    const stats = new StatsService({
      listContainers: (f) => containers.list(f),
      listSandboxes: (f) => sandboxes.list(f),
      findContainer: (id) => containers.find(id),
      findSandbox: (id) => sandboxes.find(id),
      upperDir: (id) => containers.upperDir(id),
      netnsPath: (id) => sandboxes.paths(id).netns,
    });
    await sandboxes.restore();
    await network.collect(sandboxes.ids());
    await containers.restore();
    stats.follow(events);
    stats.collectEvery(config.stats.collection_period * 1000);
    await sandboxes.sweepCgroups();
    await images.releaseAllBut(containers.imageHolders());
    const streamingTarget = new ContainerStreaming(containers, sandboxes);
    await streamingTarget.killOrphans(log.child({ component: 'streaming' }));
    const streaming = await StreamingServer.start({
      address: config.streaming.address,
      port: config.streaming.port,
      tlsCert: config.streaming.tls_cert || undefined,
      tlsKey: config.streaming.tls_key || undefined,
      tokenTtlMs: config.streaming.token_ttl * 1000,
      idleTimeoutMs: config.streaming.idle_timeout * 1000,
      target: streamingTarget,
      metrics,
      log: log.child({ component: 'streaming' }),
    });
    log.info({ url: streaming.address }, 'streaming server listening');
    const services: Services = {
      config,
      log,
      version: PACKAGE_VERSION,
      handlers,
      network,
      metrics,
      events,
      images,
      sandboxes,
      containers,
      pods,
      podCheckpoints: new PodCheckpoints(sandboxes, containers, pods, [config.daemon.root, config.daemon.state]),
      stats,
      streamingTarget,
      streaming,
    };
    const server = await CriServer.start({
      socketPath: config.daemon.listen,
      socketMode: parseInt(config.daemon.socket_mode, 8),
      socketGroup: config.daemon.socket_group,
      maxMessageBytes: config.daemon.max_message_bytes,
      handlers: buildHandlers(services),
      log,
      observe: (method, code, seconds, unexpected) => {
        metrics.criRequests.inc({ method, code });
        if (code !== 'OK') metrics.criErrors.inc({ method, code });
        if (unexpected) metrics.criHandlerErrors.inc({ method });
        metrics.criDuration.observe({ method }, seconds);
      },
    });
    const admin = await AdminServer.start(join(config.daemon.state, 'admin.sock'), images, log.child({ component: 'admin' }));
    const signals = new NodeSignals({ config, log, metrics, events, images, sandboxes, containers, stats });
    signals.start();
    let metricsServer: MetricsServer | undefined;
    if (config.metrics.address) {
      try {
        metricsServer = await MetricsServer.start(config.metrics.address, metrics.registry, [() => signals.refresh()]);
      } catch (err) {
        signals.stop();
        await server.shutdown(0);
        await admin.stop();
        await streaming.stop();
        throw new Error(`metrics endpoint on ${config.metrics.address}: ${errorMessage(err)}`, { cause: err });
      }
      log.info({ address: config.metrics.address }, 'serving Prometheus metrics on /metrics');
    }
    log.info({ socket: config.daemon.listen, version: PACKAGE_VERSION, root: config.daemon.root, state: config.daemon.state }, 'berthd serving CRI');
    return new Daemon(services, server, streaming, admin, signals, metricsServer, tracing);
  }

  async stop(): Promise<void> {
    const { log, config } = this.services;
    log.info('shutting down: no new calls, waiting for in-flight ones');
    // Event streams never finish on their own; end them so they do not hold the shutdown.
    this.services.events.close();
    await this.metricsServer?.stop();
    await this.server.shutdown(config.daemon.shutdown_timeout * 1000);
    await this.admin.stop();
    await this.streaming.stop();
    await this.services.containers.settle();
    this.services.containers.close();
    this.services.stats.close();
    await this.services.sandboxes.cleanupCgroupParent();
    await this.services.images.close();
    await this.tracing?.stop();
    this.signals.stop();
    await recordCleanStop(config.daemon.root);
    log.info('shutdown complete');
  }
}
