// What the container service needs from the image store. The image service
// implements it; containers depend only on this.
import type { OciImageConfig } from './store/records.js';

export type { OciImageConfig } from './store/records.js';


export interface ImageForContainer {
  /** Image ID: the config digest, `sha256:…`. */
  id: string;
  /** The reference kubelet reports as image_ref: a repo digest when known, else the ID. */
  ref: string;
  repoTags: string[];
  repoDigests: string[];
  config: OciImageConfig;
  /** Unpacked layer directories, lowest layer first, ready for overlay lowerdir. */
  layerDirs: string[];
}

export interface ImageProvider {
  /** Finds an image by ID, ID prefix, tag or digest reference. */
  get(ref: string): Promise<ImageForContainer | undefined>;
  /**
   * Marks the image's layers as used by `holder` (a container ID), at once:
   * RemoveImage and garbage collection keep them until released. Throws
   * NOT_FOUND when the image is gone. `persisted` settles when the hold is on
   * disk (what a restart will know).
   */
  hold(imageId: string, holder: string): { persisted: Promise<void> };
  /** The annotations of the image's manifest (a checkpoint image carries the peers' checkpoint annotation); empty when it has none. */
  annotations(imageId: string): Promise<Record<string, string>>;
  /** Drops every hold of `holder`. Idempotent. */
  release(holder: string): Promise<void>;
  /** Drops the holds of every holder not in `holders` (after a restart: containers that no longer exist). */
  releaseAllBut(holders: ReadonlySet<string>): Promise<void>;
}
