import type { ChunkIndex } from "../chunks/index.js";
import { ContentCorruptError } from "../platform/index.js";
import type { ObjectStore } from "./object-store.js";
import { loadPack } from "./pack-reader.js";

export interface PackCacheOptions {
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

/**
 * Whole decompressed packs for the chunks of an index that are read that way (`uses`: their
 * positions in the stream, ascending): packs load in the order the stream first needs them,
 * several at once; a pack stays in memory until its last chunk was used, unless the cache is full
 * (then the pack needed furthest ahead is dropped and loaded again when its turn comes).
 */
export class PackCache {
  private readonly parallel: number;
  private readonly cacheBytes: number;
  /** For every pack, the positions in the stream where its chunks are needed, ascending. */
  private readonly usesOf = new Map<number, number[]>();
  private readonly nextUse = new Map<number, number>();
  private readonly loaded = new Map<number, Promise<Buffer>>();
  private cached = 0;

  constructor(
    private readonly objects: ObjectStore,
    private readonly index: ChunkIndex,
    private readonly uses: readonly number[],
    private readonly options: PackCacheOptions = {},
  ) {
    this.parallel = options.parallelPacks ?? DEFAULT_PARALLEL_PACKS;
    this.cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    for (const i of uses) {
      const pack = this.ref(i).pack;
      const list = this.usesOf.get(pack);
      if (list) list.push(i);
      else this.usesOf.set(pack, [i]);
    }
    for (const pack of this.usesOf.keys()) this.nextUse.set(pack, 0);
  }

  /** Starts loading the packs needed next from position `from` of `uses`, within parallelism and cache. */
  prefetch(from: number): void {
    let ahead = 0;
    for (let u = from; u < this.uses.length && ahead < this.parallel; u++) {
      const pack = this.ref(this.uses[u] ?? 0).pack;
      if (this.loaded.has(pack)) continue;
      if (
        this.cached + (this.index.packs[pack]?.rawSize ?? 0) > this.cacheBytes &&
        this.loaded.size > 0
      )
        break;
      this.load(pack);
      ahead++;
    }
  }

  /** The decompressed bytes of chunk `i` (not verified: the caller checks its hash). */
  async bytesOf(i: number): Promise<Buffer> {
    const c = this.ref(i);
    const raw = await this.load(c.pack);
    return raw.subarray(c.offset, c.offset + c.length);
  }

  /** Chunk `i` was used: its pack goes once no chunk ahead needs it, or when room is needed. */
  used(i: number): void {
    const pack = this.ref(i).pack;
    this.nextUse.set(pack, (this.nextUse.get(pack) ?? 0) + 1);
    if (this.nextUseAt(pack) === Number.POSITIVE_INFINITY) this.drop(pack);
    this.evict(pack);
  }

  private ref(i: number): ChunkIndex["chunks"][number] {
    const c = this.index.chunks[i];
    if (!c) throw new ContentCorruptError(`chunk ${i} of ${this.index.chunks.length}`);
    return c;
  }

  private nextUseAt(pack: number): number {
    return this.usesOf.get(pack)?.[this.nextUse.get(pack) ?? 0] ?? Number.POSITIVE_INFINITY;
  }

  private load(pack: number): Promise<Buffer> {
    const existing = this.loaded.get(pack);
    if (existing) return existing;
    const p = this.index.packs[pack];
    if (!p) throw new ContentCorruptError(`index names pack ${pack} of ${this.index.packs.length}`);
    this.cached += p.rawSize;
    const promise = loadPack(this.objects, p, this.options).then(({ raw, storedBytes }) => {
      this.options.onPackLoaded?.(storedBytes);
      return raw;
    });
    promise.catch(() => {});
    this.loaded.set(pack, promise);
    return promise;
  }

  private drop(pack: number): void {
    if (this.loaded.delete(pack)) this.cached -= this.index.packs[pack]?.rawSize ?? 0;
  }

  /** Frees room by dropping the cached packs needed furthest ahead (never the one in use). */
  private evict(inUse: number): void {
    while (this.cached > this.cacheBytes && this.loaded.size > 1) {
      let victim = -1;
      let furthest = -1;
      for (const pack of this.loaded.keys()) {
        const at = this.nextUseAt(pack);
        if (pack !== inUse && at > furthest) {
          furthest = at;
          victim = pack;
        }
      }
      if (victim < 0) return;
      this.drop(victim);
    }
  }
}
