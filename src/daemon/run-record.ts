// berthd's starts, kept in the root so they survive restarts: how many there
// were, and how many found that the run before had not shut down cleanly (a
// marker written at start and removed at the end of a clean shutdown is still
// there): killed, crashed, or the node lost power (M4).
import { readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';

const RUNNING = 'berthd.running';

async function bump(file: string): Promise<number> {
  const n = (Number((await readFile(file, 'utf8').catch(() => '0')).trim()) || 0) + 1;
  await writeFileAtomic(file, `${n}\n`);
  return n;
}

async function count(file: string): Promise<number> {
  return Number((await readFile(file, 'utf8').catch(() => '0')).trim()) || 0;
}

export interface StartRecord {
  starts: number;
  uncleanRestarts: number;
  /** This start follows a run that did not shut down cleanly. */
  unclean: boolean;
}

export async function recordStart(root: string): Promise<StartRecord> {
  const unclean = existsSync(join(root, RUNNING));
  const starts = await bump(join(root, 'daemon-starts'));
  const uncleanRestarts = unclean ? await bump(join(root, 'daemon-unclean-restarts')) : await count(join(root, 'daemon-unclean-restarts'));
  await writeFileAtomic(join(root, RUNNING), `${process.pid}\n`);
  return { starts, uncleanRestarts, unclean };
}

/** The end of a clean shutdown. */
export async function recordCleanStop(root: string): Promise<void> {
  await rm(join(root, RUNNING), { force: true });
}
