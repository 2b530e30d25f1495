import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

// Secrets can arrive in many shapes (CRI AuthConfig, registry config, env in
// container configs); the paths below cover where our own code puts them.
const REDACT = [
  'password', '*.password', 'auth', '*.auth', 'identityToken', '*.identityToken',
  'registryToken', '*.registryToken', 'authorization', '*.authorization',
  '*.headers.authorization', 'env', '*.env', 'envs', '*.envs',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const opts: LoggerOptions = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(opts, destination as pino.DestinationStream) : pino(opts, pino.destination(2));
}

/** A logger that drops everything, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
