import { type ChunkIndex, chunkId } from "../chunks/index.js";
import { ContentCorruptError } from "../platform/index.js";
import type { ObjectStore } from "./object-store.js";
import { loadPack } from "./pack-reader.js";

export interface ChunkReaderOptions {
  signal?: AbortSignal | undefined;
  zstdPath?: string | undefined;
  /** Packs downloading and decompressing at once. */
  parallelPacks?: number | undefined;
  /** Decompressed packs kept for later chunks before the one needed last is dropped. */
  cacheBytes?: number | undefined;
  /** Told of every pack's stored bytes once loaded. */
  onPackLoaded?: ((storedBytes: number) => void) | undefined;
}

const DEFAULT_PARALLEL_PACKS = 4;
const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;
/** Chunk hashes computed ahead of the writer (on the thread pool). */
const VERIFY_AHEAD = 8;

/**
 * The tar stream of a chunked archive, rebuilt chunk by chunk from its packs: packs load in the
 * order the stream first needs them, several at once; a pack stays in memory until its last
 * chunk was used, unless the cache is full (then the pack needed furthest ahead is dropped and
 * loaded again when its turn comes). Every chunk's sha256 is checked before it is yielded: a
 * mismatch is ContentCorruptError, and nothing of that chunk reaches the caller.
 */
export async function* readChunks(
  objects: ObjectStore,
  index: ChunkIndex,
  options: ChunkReaderOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const parallel = options.parallelPacks ?? DEFAULT_PARALLEL_PACKS;
  const cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
  // for every pack, the positions in the stream where its chunks are needed, ascending
  const usesOf = new Map<number, number[]>();
  index.chunks.forEach((c, i) => {
    const uses = usesOf.get(c.pack);
    if (uses) uses.push(i);
    else usesOf.set(c.pack, [i]);
  });
  const nextUse = new Map<number, number>([...usesOf.keys()].map((p) => [p, 0]));
  const nextUseAt = (pack: number): number =>
    usesOf.get(pack)?.[nextUse.get(pack) ?? 0] ?? Number.POSITIVE_INFINITY;
  const loaded = new Map<number, Promise<Buffer>>();
  let cached = 0;

  const load = (pack: number): Promise<Buffer> => {
    const existing = loaded.get(pack);
    if (existing) return existing;
    const p = index.packs[pack];
    if (!p) throw new ContentCorruptError(`index names pack ${pack} of ${index.packs.length}`);
    cached += p.rawSize;
    const promise = loadPack(objects, p, options).then(({ raw, storedBytes }) => {
      options.onPackLoaded?.(storedBytes);
      return raw;
    });
    promise.catch(() => {});
    loaded.set(pack, promise);
    return promise;
  };
  const drop = (pack: number) => {
    if (loaded.delete(pack)) cached -= index.packs[pack]?.rawSize ?? 0;
  };
  /** Starts loading the packs needed next from position `from`, within parallelism and cache. */
  const prefetch = (from: number) => {
    let ahead = 0;
    for (let i = from; i < index.chunks.length && ahead < parallel; i++) {
      const pack = (index.chunks[i] as { pack: number }).pack;
      if (loaded.has(pack)) continue;
      if (cached + (index.packs[pack]?.rawSize ?? 0) > cacheBytes && loaded.size > 0) break;
      load(pack);
      ahead++;
    }
  };
  /** Frees room by dropping the cached packs needed furthest ahead (never the one in use). */
  const evict = (inUse: number) => {
    while (cached > cacheBytes && loaded.size > 1) {
      let victim = -1;
      let furthest = -1;
      for (const pack of loaded.keys()) {
        const at = nextUseAt(pack);
        if (pack !== inUse && at > furthest) {
          furthest = at;
          victim = pack;
        }
      }
      if (victim < 0) return;
      drop(victim);
    }
  };

  const verifying: Promise<Buffer>[] = [];
  const verifyAt = (i: number): Promise<Buffer> => {
    const c = index.chunks[i] as ChunkIndex["chunks"][number];
    const promise = load(c.pack).then(async (raw) => {
      const bytes = raw.subarray(c.offset, c.offset + c.length);
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
    prefetch(i);
    while (scheduled < index.chunks.length && scheduled < i + VERIFY_AHEAD) {
      verifying.push(verifyAt(scheduled));
      scheduled++;
    }
    const bytes = await (verifying.shift() as Promise<Buffer>);
    const pack = (index.chunks[i] as { pack: number }).pack;
    nextUse.set(pack, (nextUse.get(pack) ?? 0) + 1);
    // a pack no chunk ahead (scheduled ones included) needs is done
    if (nextUseAt(pack) === Number.POSITIVE_INFINITY) drop(pack);
    evict(pack);
    yield bytes;
  }
}
