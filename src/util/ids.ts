import { randomBytes } from 'node:crypto';
import { invalidArgument, notFound } from './errors.js';
import { echo } from './echo.js';

/** Characters of a full object ID. */
export const ID_LENGTH = 64;

/** A new object ID: 64 lowercase hex characters, like the other CRI runtimes. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

/** A full ID or a prefix of one: 1 to 64 lowercase hex characters. */
export function isIdOrPrefix(s: string): boolean {
  return s.length > 0 && s.length <= ID_LENGTH && /^[0-9a-f]+$/.test(s);
}

/**
 * Resolves a full ID or a unique prefix against known IDs. Anything that is
 * not hex is refused before it can reach a path.
 */
export function resolveId(kind: string, field: string, given: string, ids: Iterable<string>): string {
  if (given === '') throw invalidArgument(`${field} is required`);
  if (!isIdOrPrefix(given)) throw invalidArgument(`${field} ${echo(given)} is not a valid ${kind} ID (1 to ${ID_LENGTH} lowercase hexadecimal characters)`);
  const matches: string[] = [];
  for (const id of ids) if (id.startsWith(given)) matches.push(id);
  if (matches.length === 0) throw notFound(`${kind} "${given}" not found`);
  if (matches.length > 1 && !matches.includes(given)) throw invalidArgument(`${field} "${given}" matches ${matches.length} ${kind}s; give more characters`);
  return matches.includes(given) ? given : matches[0]!;
}
