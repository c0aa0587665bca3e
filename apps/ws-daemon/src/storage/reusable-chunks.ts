import type { Log } from "../platform/index.js";
import type { ChunkCatalog, KnownChunk } from "./chunk-catalog.js";
import { condemnedPrefix } from "./chunk-keys.js";
import { getBytesIfExists, type ObjectStore } from "./object-store.js";

/** How much of a pack the scope's published indexes still name. */
export interface PackLiveness {
  key: string;
  /** Bytes of the pack's distinct chunks that some published index names. */
  liveBytes: number;
  /** Decompressed size of the whole pack. */
  rawSize: number;
}

/** What a writer may name without storing it again, and what it must store again. */
export interface ReusableChunks {
  /** Chunks to name where they lie: in packs neither sparse nor condemned by a running sweep. */
  known: Map<string, KnownChunk>;
  /** Chunks stored only in sparse or condemned packs, by id: the pack a writer stops naming. */
  rewrite: Map<string, string>;
  /** Every pack the published indexes name, with its liveness. */
  packs: Map<string, PackLiveness>;
  /** Packs below the liveness threshold (`repackBelow`). */
  sparse: Set<string>;
  /** Packs a running sweep is about to delete (docs/chunked-backups.md, "Busy scopes"). */
  condemned: Set<string>;
}

export interface ReusableChunksOptions {
  /** A pack whose live bytes are below this share of its size is repacked; 0 = never. */
  repackBelow: number;
  signal?: AbortSignal | undefined;
  log: Log;
}

/**
 * The known chunk set a writer gets: every chunk the scope's published indexes name (the
 * catalog's knownChunks), minus the chunks that lie only in packs it must stop naming, which it
 * then stores again in its own new packs:
 *  - sparse packs (repack on write): a pack mostly dead costs a whole read on every restore and
 *    is kept whole by the sweep for one live chunk; once no published index names it, it goes;
 *  - packs a running sweep condemned: a writer that started after the sweep wrote its list never
 *    names them, which is what lets the sweep delete them while writers keep running.
 * Call after the writer's lease is stored: a condemned list written before the lease is seen.
 */
export async function reusableChunks(
  objects: ObjectStore,
  catalog: ChunkCatalog,
  scope: string,
  workspaces: string,
  options: ReusableChunksOptions,
): Promise<ReusableChunks> {
  const condemned = await condemnedPacks(objects, scope, options);
  const locations = new Map<string, KnownChunk[]>();
  const live = new Map<string, { rawSize: number; chunks: Map<number, number> }>();
  await catalog.forEachIndex(
    scope,
    workspaces,
    (index) => {
      for (const c of index.chunks) {
        const pack = index.packs[c.pack];
        if (!pack) continue;
        const usage = live.get(pack.key) ?? { rawSize: pack.rawSize, chunks: new Map() };
        live.set(pack.key, usage);
        // distinct chunks of a pack by offset: one named by many indexes counts once
        usage.chunks.set(c.offset, c.length);
        const at = locations.get(c.sha256) ?? [];
        locations.set(c.sha256, at);
        if (!at.some((k) => k.packKey === pack.key)) {
          at.push({
            packKey: pack.key,
            packRawSize: pack.rawSize,
            packSize: pack.size,
            offset: c.offset,
            length: c.length,
            // without it the next index names the chunk unframed, and its restore decompresses
            // the whole pack to reach it
            ...(pack.framed && c.frame ? { frame: c.frame } : {}),
          });
        }
      }
    },
    { signal: options.signal },
  );
  const packs = new Map<string, PackLiveness>();
  const sparse = new Set<string>();
  for (const [key, usage] of live) {
    let liveBytes = 0;
    for (const length of usage.chunks.values()) liveBytes += length;
    packs.set(key, { key, liveBytes, rawSize: usage.rawSize });
    if (liveBytes < options.repackBelow * usage.rawSize) sparse.add(key);
  }
  const known = new Map<string, KnownChunk>();
  const rewrite = new Map<string, string>();
  for (const [id, at] of locations) {
    const usable = at.find((k) => !sparse.has(k.packKey) && !condemned.has(k.packKey));
    if (usable) known.set(id, usable);
    else if (at[0]) rewrite.set(id, at[0].packKey);
  }
  return { known, rewrite, packs, sparse, condemned };
}

/**
 * Every pack named by a condemned list of the scope. A list that cannot be read condemns every
 * pack (nothing is reused): naming a pack a sweep is deleting would lose the backup.
 */
async function condemnedPacks(
  objects: ObjectStore,
  scope: string,
  options: ReusableChunksOptions,
): Promise<Set<string>> {
  const condemned = new Set<string>();
  for await (const o of objects.list(condemnedPrefix(scope))) {
    options.signal?.throwIfAborted();
    try {
      const bytes = await getBytesIfExists(objects, o.key, { signal: options.signal });
      if (!bytes) continue; // the sweep finished meanwhile
      for (const key of parseCondemnedList(bytes, o.key)) condemned.add(key);
    } catch (err) {
      options.signal?.throwIfAborted();
      options.log("warn", `condemned list ${o.key} unreadable: this archive reuses no chunk`, {
        err,
      });
      return new AllPacks();
    }
  }
  return condemned;
}

/** A set that holds every pack key (an unreadable condemned list). */
class AllPacks extends Set<string> {
  override has(_key: string): boolean {
    return true;
  }
}

/** The condemned list object: `{ "packs": [key, ...] }`. */
export function encodeCondemnedList(packs: readonly string[]): Buffer {
  return Buffer.from(JSON.stringify({ packs }));
}

function parseCondemnedList(bytes: Buffer, key: string): string[] {
  const parsed: unknown = JSON.parse(bytes.toString("utf8"));
  const packs = (parsed as { packs?: unknown } | null)?.packs;
  if (!Array.isArray(packs) || !packs.every((p) => typeof p === "string")) {
    throw new Error(`condemned list ${key} is not {"packs": [string]}`);
  }
  return packs;
}
