import { pino, type Logger, type LoggerOptions } from 'pino';
import { REDACTED, redactUrl } from '../config/redact.js';

export type { Logger };

// Secrets can arrive in many shapes (CRI AuthConfig, registry config, env in
// container configs); the paths below cover where our own code puts them.
const REDACT = [
  'password', '*.password', 'auth', '*.auth', 'identityToken', '*.identityToken',
  'registryToken', '*.registryToken', 'authorization', '*.authorization',
  '*.headers.authorization', 'env', '*.env', 'envs', '*.envs',
  'registries.*.password', '*.registries.*.password',
];

// Endpoints are logged by these names; a URL may carry user:password.
const urlField = (v: unknown): unknown => (typeof v === 'string' ? redactUrl(v) : v);
const URL_FIELDS = Object.fromEntries(['endpoint', 'mirror', 'server', 'url'].map((k) => [k, urlField]));

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const opts: LoggerOptions = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: REDACTED },
    serializers: URL_FIELDS,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(opts, destination as pino.DestinationStream) : pino(opts, pino.destination(2));
}

/** A logger that drops everything, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
