// Image records: one JSON file per image under <root>/records, written
// atomically (temp, fsync, rename), so a crash leaves either the old or the
// new record, never a torn one. Holds (container → image layers) live beside
// them so a restarted daemon still keeps layers of existing containers;
// they are replaced atomically too, with the flush behind the call.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFileAsync, writeFileAtomic } from '../../util/atomic-file.js';

/** The parts of an OCI image config containers are built from. */
export interface OciImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
  Volumes?: Record<string, unknown>;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, unknown>;
}

export interface LayerRef {
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
}

export interface ImageRecord {
  /** The config digest. */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** Sum of config and (compressed) layer sizes, as containerd reports. */
  size: number;
  /** The platform manifest the image was built from, and the index it came through. */
  manifestDigest: string;
  indexDigest?: string;
  layers: LayerRef[];
  config: OciImageConfig;
  createdMs: number;
  updatedMs: number;
}

export interface Hold {
  holder: string;
  imageId: string;
  diffIds: string[];
}

function loadDir<T>(dir: string, onBad: (file: string, err: unknown) => void): T[] {
  const out: T[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (f.startsWith('.')) {
      rmSync(p, { force: true });
      continue;
    }
    try {
      out.push(JSON.parse(readFileSync(p, 'utf8')) as T);
    } catch (err) {
      onBad(p, err);
      rmSync(p, { force: true });
    }
  }
  return out;
}

export class RecordStore {
  private readonly recDir: string;
  private readonly holdDir: string;

  constructor(root: string) {
    this.recDir = join(root, 'records');
    this.holdDir = join(root, 'holds');
    mkdirSync(this.recDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.holdDir, { recursive: true, mode: 0o700 });
  }

  loadRecords(onBad: (file: string, err: unknown) => void): ImageRecord[] {
    return loadDir<ImageRecord>(this.recDir, onBad);
  }

  loadHolds(onBad: (file: string, err: unknown) => void): Hold[] {
    return loadDir<Hold>(this.holdDir, onBad);
  }

  save(rec: ImageRecord): Promise<void> {
    return writeFileAtomic(join(this.recDir, `${rec.id.slice(7)}.json`), JSON.stringify(rec));
  }

  async delete(id: string): Promise<void> {
    await rm(join(this.recDir, `${id.slice(7)}.json`), { force: true });
  }

  /**
   * A hold is on CreateContainer's path, so it is not made to wait for the
   * disk (see replaceFile): after a power failure its container is gone too.
   */
  saveHold(h: Hold, onFlushError: (err: Error) => void): Promise<void> {
    return replaceFileAsync(join(this.holdDir, `${encodeURIComponent(h.holder)}.json`), JSON.stringify(h), onFlushError);
  }

  async deleteHold(holder: string): Promise<void> {
    await rm(join(this.holdDir, `${encodeURIComponent(holder)}.json`), { force: true });
  }
}
