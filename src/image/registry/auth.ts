// Registry authentication per the distribution spec's token flow: a 401 with
// `WWW-Authenticate: Bearer realm=…,service=…,scope=…` sends us to the realm
// for a token (anonymously or with credentials); `Basic` challenges take the
// credentials directly. Tokens are cached per realm/service/scope.
import { createHash } from 'node:crypto';
import type { HttpAgent, HttpResponse } from './http.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (CRI identity_token). */
  identityToken?: string;
  /** A bearer token to present as is (CRI registry_token). */
  registryToken?: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses the first challenge of a WWW-Authenticate header. */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]); p; p = re.exec(m[2])) params[p[1].toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1].toLowerCase(), params };
}

export function basicHeader(c: Credentials): string | undefined {
  if (!c.username && !c.password) return undefined;
  return 'Basic ' + Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64');
}

export class TokenError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

interface CachedToken { header: string; expires: number }

export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();

  /** Returns an Authorization header for the challenge, fetching a token if needed. */
  async authorize(ch: Challenge, scope: string, creds: Credentials, agent: HttpAgent, signal?: AbortSignal): Promise<string | undefined> {
    if (ch.scheme === 'basic') return basicHeader(creds);
    if (ch.scheme !== 'bearer') return undefined;
    if (creds.registryToken) return `Bearer ${creds.registryToken}`;
    const realm = ch.params.realm;
    if (!realm) throw new TokenError(0, 'Bearer challenge without a realm');
    const service = ch.params.service ?? '';
    const sc = ch.params.scope ?? scope;
    // A token is reused only for the very credentials it was issued to: a
    // pull naming the same user with a wrong (or no) password must be refused
    // by the token service, not served from the cache.
    const secret = createHash('sha256').update(`${creds.password ?? ''}\0${creds.identityToken ?? ''}`).digest('hex');
    const key = `${realm}|${service}|${sc}|${creds.username ?? ''}|${secret}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.header;

    let res: HttpResponse;
    if (creds.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, service, scope: sc, client_id: 'berth' });
      res = await agent.request(new URL(realm), {
        method: 'POST', signal, body: form.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      if (sc) url.searchParams.set('scope', sc);
      const headers: Record<string, string> = {};
      const basic = basicHeader(creds);
      if (basic) headers.authorization = basic;
      res = await agent.request(url, { signal, headers });
    }
    const text = await res.text();
    if (res.statusCode !== 200) throw new TokenError(res.statusCode, `token service ${realm} answered ${res.statusCode}`);
    let body: { token?: string; access_token?: string; expires_in?: number };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new TokenError(res.statusCode, `token service ${realm} answered non-JSON`);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new TokenError(res.statusCode, `token service ${realm} gave no token`);
    // Renew a little early; the spec's default lifetime is 60 s.
    const ttl = Math.max(10, (body.expires_in ?? 60) - 10) * 1000;
    const header = `Bearer ${token}`;
    this.tokens.set(key, { header, expires: Date.now() + ttl });
    return header;
  }
}
