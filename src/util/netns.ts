import { statfs } from 'node:fs/promises';

const NSFS_MAGIC = 0x6e736673;

/** True when `path` is a pinned namespace (an nsfs bind mount), not just the empty file under it. */
export async function isNamespace(path: string): Promise<boolean> {
  try {
    return (await statfs(path)).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}
