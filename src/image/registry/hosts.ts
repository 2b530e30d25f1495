// Where a registry is reached: its mirrors first, in configured order, then
// the registry itself (or the server configured in its place); with which
// scheme and TLS settings, per the [registries."host"] config table.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { HttpAgent } from './http.js';
import type { RegistryConfig } from '../../config/config.js';

export interface Endpoint {
  /** scheme://host[:port], no trailing slash. */
  base: string;
  /** The registry name (config key) this endpoint serves. */
  registry: string;
  mirror: boolean;
  agent: HttpAgent;
}

export interface HostsOptions {
  registries: Record<string, RegistryConfig>;
  insecureRegistries: string[];
}

const LOCAL = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;

export function isLocalRegistry(host: string): boolean {
  return LOCAL.test(host);
}

/** scheme://host[:port] of a configured endpoint; https when it names none. */
function endpointBase(endpoint: string): string {
  return /^https?:\/\//.test(endpoint) ? endpoint.replace(/\/+$/, '') : `https://${endpoint}`;
}

export class Hosts {
  private readonly agents = new Map<string, HttpAgent>();

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
      const base = endpointBase(m);
      out.push({ base, registry, mirror: true, agent: this.agent(base, cfg, cfg?.insecure === true) });
    }
    if (cfg?.server) {
      const base = endpointBase(cfg.server);
      out.push({ base, registry, mirror: false, agent: this.agent(base, cfg, cfg.insecure === true) });
      return out;
    }
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    // With a CA configured the registry speaks TLS even when it is local.
    const plain = insecure && !cfg?.ca_file && !cfg?.cert_file;
    const base = `${plain ? 'http' : 'https'}://${host}`;
    out.push({ base, registry, mirror: false, agent: this.agent(base, cfg, insecure) });
    return out;
  }

  private agent(base: string, cfg: RegistryConfig | undefined, skipVerify: boolean): HttpAgent {
    const key = `${base}|${skipVerify}`;
    let a = this.agents.get(key);
    if (!a) {
      a = new HttpAgent(base.startsWith('https:'), {
        rejectUnauthorized: !skipVerify,
        ca: cfg?.ca_file ? [...rootCertificates, readFileSync(cfg.ca_file, 'utf8')] : undefined,
        cert: cfg?.cert_file ? readFileSync(cfg.cert_file) : undefined,
        key: cfg?.key_file ? readFileSync(cfg.key_file) : undefined,
      });
      this.agents.set(key, a);
    }
    return a;
  }

  async close(): Promise<void> {
    for (const a of this.agents.values()) a.close();
    this.agents.clear();
  }
}
