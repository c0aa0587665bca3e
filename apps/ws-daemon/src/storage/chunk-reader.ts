import { type ChunkIndex, chunkId } from "../chunks/index.js";
import { ContentCorruptError } from "../platform/index.js";
import type { ObjectStore } from "./object-store.js";
import { PackCache, type PackCacheOptions } from "./pack-cache.js";

export type ChunkReaderOptions = PackCacheOptions;

/** Chunk hashes computed ahead of the writer (on the thread pool). */
const VERIFY_AHEAD = 8;

/**
 * The tar stream of a chunked archive, rebuilt chunk by chunk from whole packs (PackCache), framed
 * or not: the way a restore goes without the native unchunk helper. Every chunk's sha256 is
 * checked before it is yielded: a mismatch is ContentCorruptError, and nothing of that chunk
 * reaches the caller.
 */
export async function* readChunks(
  objects: ObjectStore,
  index: ChunkIndex,
  options: ChunkReaderOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const packs = new PackCache(
    objects,
    index,
    index.chunks.map((_, i) => i),
    options,
  );
  const verifying: Promise<Buffer>[] = [];
  const verifyAt = (i: number): Promise<Buffer> => {
    const c = index.chunks[i] as ChunkIndex["chunks"][number];
    const promise = packs.bytesOf(i).then(async (bytes) => {
      if ((await chunkId(bytes)) !== c.sha256) {
        throw new ContentCorruptError(
          `chunk ${i} of the archive (in pack ${index.packs[c.pack]?.key}) does not match its hash`,
        );
      }
      return bytes;
    });
    promise.catch(() => {});
    return promise;
  };

  let scheduled = 0;
  for (let i = 0; i < index.chunks.length; i++) {
    options.signal?.throwIfAborted();
    packs.prefetch(i);
    while (scheduled < index.chunks.length && scheduled < i + VERIFY_AHEAD) {
      verifying.push(verifyAt(scheduled));
      scheduled++;
    }
    const bytes = await (verifying.shift() as Promise<Buffer>);
    // a pack no chunk ahead (scheduled ones included) needs is done
    packs.used(i);
    yield bytes;
  }
}
