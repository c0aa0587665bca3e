import type { FileHandle } from "node:fs/promises";
import type { ChunkIndex } from "../chunks/index.js";
import { ContentCorruptError } from "../platform/index.js";
import { ObjectNotFoundError, type ObjectStore } from "./object-store.js";

/** Framed pack files handed to the unchunk helper; the rest of a larger index is read by ranges. */
export const MAX_PACK_FILES = 256;

/** Pack files opened for the unchunk helper: `handles[k]` becomes its descriptor 3 + k. */
export interface PackFiles {
  handles: FileHandle[];
  /** Position in the index's packs → the helper's descriptor. */
  fdOf: Map<number, number>;
  /** Closes our copies (the helper holds its own once started); idempotent. */
  close(): Promise<void>;
}

/** The first descriptor after stdin, stdout and stderr. */
const FIRST_FD = 3;

/**
 * On a store of local files, opens the framed packs of the index (the first `max` in the order
 * the stream needs them) through the store, which checks that each file lies inside it, so the
 * unchunk helper can read their frames itself: the frames then pass through no stream, thread
 * pool or pipe of the daemon. Undefined on other stores. A pack that is missing is
 * ContentCorruptError.
 */
export async function openPackFiles(
  objects: ObjectStore,
  index: ChunkIndex,
  max = MAX_PACK_FILES,
): Promise<PackFiles | undefined> {
  const files = objects.files;
  if (!files) return undefined;
  const order: number[] = [];
  const seen = new Set<number>();
  for (const c of index.chunks) {
    if (!c.frame || seen.has(c.pack) || order.length >= max) continue;
    seen.add(c.pack);
    order.push(c.pack);
  }
  if (order.length === 0) return undefined;
  const handles: FileHandle[] = [];
  const fdOf = new Map<number, number>();
  const close = async () => {
    const open = handles.splice(0);
    await Promise.allSettled(open.map((h) => h.close()));
  };
  try {
    for (const pack of order) {
      const key = index.packs[pack]?.key ?? `#${pack}`;
      try {
        handles.push(await files.open(key));
      } catch (err) {
        if (err instanceof ObjectNotFoundError) {
          throw new ContentCorruptError(`index names pack ${key}, which is missing`, {
            cause: err,
          });
        }
        throw err;
      }
      fdOf.set(pack, FIRST_FD + handles.length - 1);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { handles, fdOf, close };
}
