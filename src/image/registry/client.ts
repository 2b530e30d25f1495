// An OCI distribution client for one repository: manifests and blobs over
// each endpoint (mirrors first), with token/Basic auth, redirects followed
// by hand (credentials never follow to another origin), and transient
// failures retried with exponential backoff — or, when the registry says
// when to come back (429/503 with Retry-After), no sooner than that.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingMessage } from 'node:http';
import type { HttpResponse } from './http.js';
import type { Logger } from '../../log/logger.js';
import { PullError, TRANSIENT, type PullFailure } from '../errors/pull-error.js';
import { TokenCache, TokenError, parseChallenge, type Credentials } from './auth.js';
import type { Endpoint, Hosts } from './hosts.js';

export interface ClientOptions {
  hosts: Hosts;
  tokens: TokenCache;
  retries: number;
  stallTimeoutMs: number;
  log: Logger;
  /** Base backoff; tests shorten it. */
  backoffMs?: number;
}

export interface FetchedManifest {
  body: Buffer;
  contentType: string;
  digest: string;
}

export interface BlobStream {
  body: IncomingMessage;
  /** Content-Length when the registry sent one. */
  length?: number;
  endpoint: Endpoint;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|EPROTO/;

/** Maps a network-level error (connect, TLS, socket, stall) to a failure reason. */
export function classifyNetworkError(err: unknown): PullFailure {
  const code = String((err as { code?: string }).code ?? '');
  if (err instanceof PullError) return err.reason;
  if ((err as Error).name === 'AbortError' || code === 'ABORT_ERR') return 'cancelled';
  if (code === 'ERR_REGISTRY_STALLED') return 'stalled';
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'disk_full';
  if (TLS_CODES.test(code) || /certificate|TLS|SSL/i.test((err as Error).message ?? '')) return 'tls';
  if (/^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE)$/.test(code)) return 'unreachable';
  return 'other';
}

// A registry that throttles (429, or 503 with Retry-After) is waited for as
// long as it asks, up to this much in all for one request, however many
// times it asks: a storm of pulls against a rate limit then ends in pulls,
// not in failures after `image.retries` quick attempts. A single wait longer
// than this fails the pull at once (kubelet backs off and comes back).
const THROTTLED_PATIENCE_MS = 120_000;

/** Retry-After as RFC 9110 allows it, delay-seconds or an HTTP-date, in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // An HTTP-date names its day and month (Date.parse alone would take "-1" for a year).
  const at = /[a-z]/i.test(v) ? Date.parse(v) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function statusFailure(status: number): PullFailure {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  return 'other';
}

async function errorDetail(res: HttpResponse): Promise<string> {
  let text = '';
  try {
    text = (await res.text()).slice(0, 2000);
  } catch {
    // body unreadable: the status alone has to do
  }
  try {
    const e = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors?.[0];
    if (e) return `${e.code ?? ''}${e.message ? ` (${e.message})` : ''}`.trim();
  } catch {
    // not the registry's JSON error format
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

export class RepoClient {
  private readonly scope: string;

  constructor(
    private readonly opts: ClientOptions,
    readonly registry: string,
    readonly repository: string,
    private readonly creds: Credentials,
  ) {
    this.scope = `repository:${repository}:pull`;
  }

  /** Fetches a manifest by tag or digest; verifies it when asked by digest. */
  async manifest(ref: string, accept: string, signal?: AbortSignal): Promise<FetchedManifest> {
    return this.overEndpoints(`manifest ${this.repository}:${ref}`, signal, async (ep) => {
      const res = await this.get(ep, `/v2/${this.repository}/manifests/${ref}`, { accept }, signal);
      const body = await res.buffer();
      const digest = 'sha256:' + createHash('sha256').update(body).digest('hex');
      if (ref.startsWith('sha256:') && digest !== ref) {
        throw new PullError('digest_mismatch', this.registry, `manifest ${ref} from ${ep.base} has digest ${digest}`);
      }
      return { body, contentType: String(res.headers['content-type'] ?? ''), digest };
    });
  }

  /** Opens a blob for reading; the caller verifies digest and size while streaming. */
  async blob(digest: string, signal?: AbortSignal): Promise<BlobStream> {
    return this.overEndpoints(`blob ${digest}`, signal, async (ep) => {
      const res = await this.get(ep, `/v2/${this.repository}/blobs/${digest}`, {}, signal);
      const len = Number(res.headers['content-length']);
      return { body: res.body, length: Number.isFinite(len) ? len : undefined, endpoint: ep };
    });
  }

  /** Tries each endpoint in order, retrying transient failures; the upstream's error wins. */
  private async overEndpoints<T>(what: string, signal: AbortSignal | undefined, fn: (ep: Endpoint) => Promise<T>): Promise<T> {
    const eps = this.opts.hosts.endpoints(this.registry);
    let last: unknown;
    for (const ep of eps) {
      try {
        return await this.withRetries(what, ep.base, signal, () => fn(ep));
      } catch (err) {
        last = err;
        if (classifyNetworkError(err) === 'cancelled') throw err;
        if (ep.mirror) this.opts.log.info({ mirror: ep.base, what, err: (err as Error).message }, 'mirror failed, trying next endpoint');
      }
    }
    throw last;
  }

  async withRetries<T>(what: string, where: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const base = this.opts.backoffMs ?? 250;
    let throttledMs = 0;
    for (let attempt = 0, failures = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const reason = classifyNetworkError(err);
        const pe = err instanceof PullError ? err : new PullError(reason, this.registry, `${what} from ${where}: ${(err as Error).message}`, { cause: err });
        if (!TRANSIENT.has(pe.reason) || signal?.aborted) throw pe;
        const asked = pe.retryAfterMs;
        let wait: number;
        if (asked !== undefined) {
          // Never sooner than asked: past the patience (or with retries off) the pull fails instead.
          if (this.opts.retries === 0 || throttledMs + asked > THROTTLED_PATIENCE_MS) throw pe;
          // Requests throttled together are spread over up to half the asked delay (at least
          // 250 ms) after it, so they do not all come back at the same instant.
          wait = asked + Math.random() * Math.max(250, asked / 2);
          throttledMs += wait;
        } else {
          if (++failures > this.opts.retries) throw pe;
          wait = Math.min(base * 2 ** (failures - 1), 8000) * (0.75 + Math.random() / 2);
        }
        this.opts.log.warn({ registry: this.registry, what, attempt: attempt + 1, waitMs: Math.round(wait), retryAfterMs: asked, err: pe.message }, 'registry request failed, retrying');
        await sleep(wait, undefined, { signal });
      }
    }
  }

  /** GET with auth and redirects; returns a 200 response or throws a PullError. */
  private async get(ep: Endpoint, path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<HttpResponse> {
    let url = new URL(ep.base + path);
    const origin = url.origin;
    let authorization = this.authCache.get(ep.base);
    let authTried = false;
    for (let hop = 0; hop < 10; hop++) {
      const h: Record<string, string> = { ...headers, 'user-agent': 'berth' };
      if (authorization && url.origin === origin) h.authorization = authorization;
      const res = await ep.agent.request(url, { headers: h, signal, stallTimeoutMs: this.opts.stallTimeoutMs });
      if (res.statusCode === 200) return res;
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && res.headers.location) {
        await res.dump();
        url = new URL(String(res.headers.location), url);
        continue;
      }
      if (res.statusCode === 401 && !authTried && url.origin === origin) {
        const header = String(res.headers['www-authenticate'] ?? '');
        await res.dump();
        const ch = parseChallenge(header);
        authTried = true;
        if (ch) {
          try {
            authorization = await this.opts.tokens.authorize(ch, this.scope, this.creds, ep.agent, signal);
          } catch (err) {
            if (err instanceof TokenError) {
              const reason = err.status === 401 ? 'unauthorized' : err.status === 403 ? 'forbidden' : statusFailure(err.status);
              throw new PullError(reason === 'other' ? 'unauthorized' : reason, this.registry, `${ep.base}: authentication failed: ${err.message}`);
            }
            throw err;
          }
          if (authorization) {
            this.authCache.set(ep.base, authorization);
            continue;
          }
        }
        throw new PullError('unauthorized', this.registry, `${ep.base}${path}: 401 Unauthorized (credentials required${header ? `: ${ch?.scheme ?? header}` : ''})`);
      }
      const detail = await errorDetail(res);
      const reason = statusFailure(res.statusCode);
      const hint = res.statusCode === 401 ? ' (credentials rejected)' : '';
      const retryAfterMs = res.statusCode === 429 || res.statusCode === 503 ? parseRetryAfter(res.headers['retry-after']) : undefined;
      const after = retryAfterMs === undefined ? '' : ` (Retry-After ${Math.ceil(retryAfterMs / 1000)} s)`;
      throw new PullError(reason, this.registry, `${url.origin}${url.pathname}: ${res.statusCode}${hint}${detail ? ` ${detail}` : ''}${after}`, { retryAfterMs });
    }
    throw new PullError('other', this.registry, `${ep.base}${path}: too many redirects`);
  }

  private readonly authCache = new Map<string, string>();
}
