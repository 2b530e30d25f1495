import { mkdirSync } from 'node:fs';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { CriServer } from '../cri/server.js';
import { buildHandlers } from '../server/index.js';
import type { Services } from '../server/context.js';
import { RuntimeHandlers } from '../runtime/handlers.js';
import { NoNetwork } from '../network/status.js';
import { PACKAGE_VERSION } from '../util/package-info.js';
import { Metrics } from '../metrics/metrics.js';
import { EventBus } from '../events/bus.js';
import { ImageService } from '../image/service.js';
import { SandboxService } from '../sandbox/service.js';
import { ContainerService } from '../container/service.js';
import { ContainerStreaming } from '../container/streaming.js';
import { AdminServer } from './admin.js';
import { StreamingServer } from '../streaming/server.js';
import { join } from 'node:path';

/** berthd: owns the services and the CRI server, and their order of start and stop. */
export class Daemon {
  private constructor(
    readonly services: Services,
    private readonly server: CriServer,
    private readonly streaming: StreamingServer,
    private readonly admin: AdminServer,
  ) {}

  static async start(config: Config, log: Logger): Promise<Daemon> {
    mkdirSync(config.daemon.root, { recursive: true, mode: 0o711 });
    mkdirSync(config.daemon.state, { recursive: true, mode: 0o711 });
    const handlers = new RuntimeHandlers(config.runtime.handlers, config.runtime.default_handler);
    await handlers.probe();
    for (const h of handlers.list()) {
      if (!h.usable) log.warn({ handler: h.name, reason: h.reason }, 'runtime handler unusable on this host');
    }
    const metrics = new Metrics();
    const images = await ImageService.open(config, log.child({ component: 'image' }), metrics);
    const events = new EventBus();
    const sandboxes = new SandboxService(config, log.child({ component: 'sandbox' }), handlers, metrics);
    const containers = new ContainerService(config, log.child({ component: 'container' }), handlers, metrics, events, sandboxes, images);
    sandboxes.containers = containers;
    await sandboxes.restore();
    await containers.restore();
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
      network: new NoNetwork(),
      metrics,
      events,
      images,
      sandboxes,
      containers,
      streamingTarget,
      streaming,
    };
    const server = await CriServer.start({
      socketPath: config.daemon.listen,
      socketMode: parseInt(config.daemon.socket_mode, 8),
      maxMessageBytes: config.daemon.max_message_bytes,
      handlers: buildHandlers(services),
      log,
      observe: (method, code, seconds) => {
        metrics.criRequests.inc({ method, code });
        metrics.criDuration.observe({ method }, seconds);
      },
    });
    const admin = await AdminServer.start(join(config.daemon.state, 'admin.sock'), images, log.child({ component: 'admin' }));
    log.info({ socket: config.daemon.listen, version: PACKAGE_VERSION, root: config.daemon.root, state: config.daemon.state }, 'berthd serving CRI');
    return new Daemon(services, server, streaming, admin);
  }

  async stop(): Promise<void> {
    const { log, config } = this.services;
    log.info('shutting down: no new calls, waiting for in-flight ones');
    await this.server.shutdown(config.daemon.shutdown_timeout * 1000);
    await this.admin.stop();
    await this.streaming.stop();
    this.services.containers.close();
    await this.services.sandboxes.cleanupCgroupParent();
    await this.services.images.close();
    log.info('shutdown complete');
  }
}
