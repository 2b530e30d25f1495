// Per-attachment cache under cni_cache_dir: the configuration used and, once
// ADD finished, its result. Written before the first plugin runs so that DEL
// after a crash mid-ADD still finds what to undo, and kept until DEL succeeds.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readJson, sweepTempFiles, writeJsonAtomic } from '../../util/atomic-file.js';
import type { Attachment, CniResult, NetConfList } from './types.js';

export interface CacheEntry {
  kind: 'berth-cni-cache/v1';
  file: string;
  config: NetConfList;
  attachment: Attachment;
  result?: CniResult;
}

export class AttachmentCache {
  constructor(private readonly dir: string) {}

  private path(containerId: string): string {
    return join(this.dir, `${containerId}.json`);
  }

  save(e: CacheEntry): Promise<void> {
    return writeJsonAtomic(this.path(e.attachment.containerId), e);
  }

  async load(containerId: string): Promise<CacheEntry | undefined> {
    const e = await readJson<CacheEntry>(this.path(containerId)).catch(() => undefined);
    return e?.kind === 'berth-cni-cache/v1' ? e : undefined;
  }

  /** Container IDs with an entry. */
  async list(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5));
  }

  /** Removes temporary files of writes a crash cut short (the entry they replaced, if any, is intact). */
  sweep(): Promise<void> {
    return sweepTempFiles(this.dir);
  }

  remove(containerId: string): Promise<void> {
    return rm(this.path(containerId), { force: true });
  }
}
