// Where a registry is reached: its mirrors first, in configured order, then
// the registry itself; with which scheme and TLS settings, per the
// [registries."host"] config table.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import type { RegistryConfig } from '../../config/config.js';

export interface Endpoint {
  /** scheme://host[:port], no trailing slash. */
  base: string;
  /** The registry name (config key) this endpoint serves. */
  registry: string;
  mirror: boolean;
  dispatcher: Dispatcher;
}

export interface HostsOptions {
  registries: Record<string, RegistryConfig>;
  insecureRegistries: string[];
}

const LOCAL = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;

export function isLocalRegistry(host: string): boolean {
  return LOCAL.test(host);
}

export class Hosts {
  private readonly agents = new Map<string, Agent>();

  constructor(private readonly opts: HostsOptions) {}

  config(registry: string): RegistryConfig | undefined {
    return this.opts.registries[registry];
  }

  /** Mirrors, then the upstream registry. */
  endpoints(registry: string): Endpoint[] {
    const cfg = this.config(registry);
    const insecure = cfg?.insecure === true || this.opts.insecureRegistries.includes(registry) || isLocalRegistry(registry);
    const out: Endpoint[] = [];
    for (const m of cfg?.mirrors ?? []) {
      const base = /^https?:\/\//.test(m) ? m.replace(/\/+$/, '') : `https://${m}`;
      out.push({ base, registry, mirror: true, dispatcher: this.agent(base, cfg, cfg?.insecure === true) });
    }
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    // With a CA configured the registry speaks TLS even when it is local.
    const plain = insecure && !cfg?.ca_file && !cfg?.cert_file;
    const base = `${plain ? 'http' : 'https'}://${host}`;
    out.push({ base, registry, mirror: false, dispatcher: this.agent(base, cfg, insecure) });
    return out;
  }

  private agent(base: string, cfg: RegistryConfig | undefined, skipVerify: boolean): Agent {
    const key = `${base}|${skipVerify}`;
    let a = this.agents.get(key);
    if (!a) {
      const connect: Record<string, unknown> = { rejectUnauthorized: !skipVerify };
      if (cfg?.ca_file) connect.ca = [...rootCertificates, readFileSync(cfg.ca_file, 'utf8')];
      if (cfg?.cert_file) connect.cert = readFileSync(cfg.cert_file);
      if (cfg?.key_file) connect.key = readFileSync(cfg.key_file);
      a = new Agent({ connect, connections: 16, keepAliveTimeout: 30_000 });
      this.agents.set(key, a);
    }
    return a;
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close()));
    this.agents.clear();
  }
}
