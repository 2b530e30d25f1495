// Credentials in the configuration never leave berthd in clear: `config
// check`, Status' verbose info and the log all show the configuration through
// redactConfig. Secret keys are marked in the key table (keys.ts), so a new
// one is covered where it is declared; passwords written into URLs
// (https://user:password@mirror) are caught wherever a URL appears.
import type { Config } from './config.js';
import { KEYS, TABLES } from './keys.js';

export const REDACTED = '[redacted]';

const URL_WITH_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@:\s]*):[^/?#@\s]*@/i;

/** `scheme://user:password@host…` with the password replaced; anything else unchanged. */
export function redactUrl(s: string): string {
  return s.replace(URL_WITH_PASSWORD, `$1:${REDACTED}@`);
}

function redactStrings(node: unknown): unknown {
  if (typeof node === 'string') return redactUrl(node);
  if (Array.isArray(node)) return node.map(redactStrings);
  if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) (node as Record<string, unknown>)[k] = redactStrings(v);
  }
  return node;
}

function hide(o: Record<string, unknown> | undefined, field: string): void {
  if (o && o[field] !== undefined && o[field] !== '') o[field] = REDACTED;
}

/** A copy of `cfg` fit to print: secret keys replaced, URL passwords masked. */
export function redactConfig(cfg: Config): Config {
  const out = structuredClone(cfg) as unknown as Record<string, Record<string, unknown>>;
  for (const k of KEYS) {
    if (!k.secret) continue;
    const [section, key] = k.path.split('.') as [string, string];
    hide(out[section], key);
  }
  for (const t of TABLES) {
    const [section, sub] = t.path.split('.') as [string, string | undefined];
    const table = (sub ? out[section]?.[sub] : out[section]) as Record<string, Record<string, unknown>> | undefined;
    for (const [field, f] of Object.entries(t.fields)) {
      if (f.secret) for (const entry of Object.values(table ?? {})) hide(entry, field);
    }
  }
  return redactStrings(out) as Config;
}
