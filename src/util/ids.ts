import { randomBytes } from 'node:crypto';
import { invalidArgument, notFound } from './errors.js';

/** A new object ID: 64 lowercase hex characters, like the other CRI runtimes. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

/**
 * Resolves a full ID or a unique prefix against known IDs. Anything that is
 * not hex is refused before it can reach a path.
 */
export function resolveId(kind: string, field: string, given: string, ids: Iterable<string>): string {
  if (given === '') throw invalidArgument(`${field} is required`);
  if (!/^[0-9a-f]{1,64}$/.test(given)) throw invalidArgument(`${field} "${given}" is not a valid ${kind} ID (hexadecimal)`);
  const matches: string[] = [];
  for (const id of ids) if (id.startsWith(given)) matches.push(id);
  if (matches.length === 0) throw notFound(`${kind} "${given}" not found`);
  if (matches.length > 1 && !matches.includes(given)) throw invalidArgument(`${field} "${given}" matches ${matches.length} ${kind}s; give more characters`);
  return matches.includes(given) ? given : matches[0]!;
}
