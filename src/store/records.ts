// Versioned JSON records, one file per object, replaced atomically. The
// stores of sandboxes and containers keep their objects in memory and write
// each change through here; a restart reads them back, migrating records an
// older berthd wrote.
import { readFile, readdir } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { replaceFile } from '../util/atomic-file.js';

/** A stored record: the object's fields and the schema version they follow. */
type Stored<T> = T & { v?: number };

export interface RecordFormat<T> {
  /** What the records hold, for messages ("container", "pod sandbox"). */
  what: string;
  /** The schema version this berthd writes. */
  version: number;
  /** Brings a record of an older version up to `version`; undefined drops it. Version 0 is a record without `v`. */
  migrate(record: Record<string, unknown>, from: number): T | undefined;
}

export class RecordError extends Error {}

/**
 * Writes `value` at `path` atomically (temp file, rename): a berthd killed at
 * any instant finds the old record or the new one, whole. The flush to disk
 * follows within 50 ms, off the call (see replaceFile): a power failure ends
 * every process and mount a record describes too.
 */
export function writeRecord<T extends object>(format: RecordFormat<T>, path: string, value: T, onFlushError: (err: Error) => void): void {
  replaceFile(path, JSON.stringify({ v: format.version, ...value }), onFlushError);
}

/** Removes a record file; absent is fine. */
export function removeRecord(path: string): void {
  rmSync(path, { force: true });
}

/**
 * Reads a record: undefined when there is none; RecordError when it is torn,
 * unreadable or from a newer berthd (a downgrade must not guess).
 */
export async function readRecord<T>(format: RecordFormat<T>, path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RecordError(`${format.what} record ${path}: ${(err as Error).message}`);
  }
  let raw: Stored<Record<string, unknown>>;
  try {
    raw = JSON.parse(text) as Stored<Record<string, unknown>>;
  } catch {
    throw new RecordError(`${format.what} record ${path} is torn (${text.length} bytes)`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new RecordError(`${format.what} record ${path} is not an object`);
  const from = typeof raw.v === 'number' ? raw.v : 0;
  if (from > format.version) throw new RecordError(`${format.what} record ${path} has schema version ${from}; this berthd reads up to ${format.version}`);
  const { v: _v, ...fields } = raw;
  const value = from === format.version ? (fields as T) : format.migrate(fields, from);
  if (!value) throw new RecordError(`${format.what} record ${path} of schema version ${from} cannot be migrated`);
  return value;
}

/** Entries of a directory that may not exist. */
export async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}
