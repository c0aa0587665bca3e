import { createHash } from "node:crypto";
import { type ChunkFrame, type ChunkIndex, parseChunkIndex } from "../chunks/index.js";
import { ContentCorruptError, type Log } from "../platform/index.js";
import { isPackKeyOf } from "./chunk-keys.js";
import { type ChunkedManifest, parseAnyManifest } from "./chunked-manifest.js";
import {
  getBytes,
  getBytesIfExists,
  ObjectNotFoundError,
  type ObjectStore,
} from "./object-store.js";

/** Where a chunk already stored lies. */
export interface KnownChunk {
  packKey: string;
  packRawSize: number;
  packSize: number;
  offset: number;
  length: number;
  /** The pack is framed (one zstd frame per chunk): the chunk's frame in its stored bytes. */
  frame?: ChunkFrame | undefined;
}

/** Manifests read at once while listing a scope. */
const PARALLEL_READS = 8;
/** Parsed indexes kept (they are immutable, so a cached one is never stale). */
const MAX_CACHED_INDEXES = 64;

/** The index a chunked manifest names, checked against the manifest's size and sha256. */
export async function readChunkIndex(
  objects: ObjectStore,
  manifest: ChunkedManifest,
  signal?: AbortSignal,
): Promise<ChunkIndex> {
  let bytes: Buffer;
  try {
    bytes = await getBytes(objects, manifest.indexKey, { signal });
  } catch (err) {
    if (err instanceof ObjectNotFoundError) {
      throw new ContentCorruptError(`manifest names index ${manifest.indexKey}, which is missing`);
    }
    throw err;
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (bytes.length !== manifest.indexSize || sha256 !== manifest.indexSha256) {
    throw new ContentCorruptError(`index ${manifest.indexKey} does not match its manifest`);
  }
  return parseChunkIndex(bytes, manifest.indexKey);
}

/**
 * The published chunked archives of a scope: every manifest under the scope's workspaces that
 * names an index of the scope. Used to find chunks to reuse (a backup) and packs to keep (the
 * sweep). Only published indexes count: an index no manifest names may be deleted at any time.
 */
export class ChunkCatalog {
  private readonly indexes = new Map<string, ChunkIndex>();

  constructor(
    private readonly objects: ObjectStore,
    private readonly log: Log,
  ) {}

  /**
   * Calls `visit` with every published index of `scope` found under `workspaces`. With
   * `strict`, an unreadable manifest or index fails (the sweep must know everything that is
   * named); otherwise it is logged and skipped (a backup only loses some deduplication).
   */
  async forEachIndex(
    scope: string,
    workspaces: string,
    visit: (index: ChunkIndex, indexKey: string) => void,
    { strict = false, signal }: { strict?: boolean; signal?: AbortSignal | undefined } = {},
  ): Promise<void> {
    const manifests: string[] = [];
    for await (const o of this.objects.list(workspaces)) {
      if (o.key.endsWith("/manifest.json")) manifests.push(o.key);
    }
    let next = 0;
    const worker = async () => {
      while (next < manifests.length) {
        signal?.throwIfAborted();
        const key = manifests[next++] as string;
        try {
          const found = await this.publishedIndex(key, scope, signal);
          if (found) visit(found.index, found.indexKey);
        } catch (err) {
          if (strict) throw err;
          this.log("warn", `chunks named by ${key} are not reused: it cannot be read`, { err });
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_READS }, worker));
  }

  /** Every chunk the scope's published indexes name, by id. */
  async knownChunks(
    scope: string,
    workspaces: string,
    signal?: AbortSignal,
  ): Promise<Map<string, KnownChunk>> {
    const known = new Map<string, KnownChunk>();
    await this.forEachIndex(
      scope,
      workspaces,
      (index) => {
        for (const c of index.chunks) {
          const pack = index.packs[c.pack];
          if (!pack || known.has(c.sha256)) continue;
          known.set(c.sha256, {
            packKey: pack.key,
            packRawSize: pack.rawSize,
            packSize: pack.size,
            offset: c.offset,
            length: c.length,
            ...(pack.framed && c.frame ? { frame: c.frame } : {}),
          });
        }
      },
      { signal },
    );
    return known;
  }

  private async publishedIndex(
    manifestKey: string,
    scope: string,
    signal: AbortSignal | undefined,
  ): Promise<{ index: ChunkIndex; indexKey: string } | undefined> {
    const bytes = await getBytesIfExists(this.objects, manifestKey, { signal });
    if (!bytes) return undefined; // replaced or deleted meanwhile
    const any = parseAnyManifest(bytes, manifestKey);
    if (any.format !== "chunked" || any.manifest.scope !== scope) return undefined;
    const { indexKey } = any.manifest;
    let index = this.indexes.get(indexKey);
    if (!index) {
      index = await readChunkIndex(this.objects, any.manifest, signal);
      if (index.packs.some((p) => !isPackKeyOf(scope, p.key))) {
        throw new ContentCorruptError(`index ${indexKey} names packs outside its scope ${scope}`);
      }
      if (this.indexes.size >= MAX_CACHED_INDEXES) {
        const oldest = this.indexes.keys().next().value;
        if (oldest !== undefined) this.indexes.delete(oldest);
      }
      this.indexes.set(indexKey, index);
    }
    return { index, indexKey };
  }
}
