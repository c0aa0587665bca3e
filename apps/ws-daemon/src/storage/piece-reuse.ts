import type { ChunkIndex, ChunkPiece, ReusedChunk } from "../chunks/index.js";
import type { Log } from "../platform/index.js";
import { type KnownChunk, readChunkIndex } from "./chunk-catalog.js";
import type { ChunkedManifest } from "./chunked-manifest.js";
import type { ObjectStore } from "./object-store.js";

/**
 * Chunks a walk is told it may reuse, at most: the map goes to the tar worker in one message
 * (~100 bytes a chunk), and a piece past the bound is only read again, never lost.
 */
export const MAX_REUSABLE_CHUNKS = 1 << 20;

/**
 * The pieces of the previous archive whose every chunk the scope's published indexes still name
 * with the same length: fingerprint -> chunks. An index only names chunks; the catalog is what
 * proves they exist, so a forged or stale index cannot make a backup point at missing data.
 */
export function reusablePieces(
  previous: ChunkIndex,
  known: ReadonlyMap<string, KnownChunk>,
): Map<string, ReusedChunk[]> {
  const reusable = new Map<string, ReusedChunk[]>();
  let total = 0;
  for (const piece of previous.pieces ?? []) {
    const chunks = previous.chunks.slice(piece.first, piece.first + piece.count);
    if (total + chunks.length > MAX_REUSABLE_CHUNKS) break;
    if (!chunks.every((c) => known.get(c.sha256)?.length === c.length)) continue;
    reusable.set(
      piece.fingerprint,
      chunks.map((c) => ({ id: c.sha256, length: c.length })),
    );
    total += chunks.length;
  }
  return reusable;
}

/**
 * What the walk may skip this time: the pieces of `previous` (the workspace's current backup),
 * when it is a chunked archive of the same scope. Unreadable → nothing is skipped (logged).
 */
export async function previousPieces(
  objects: ObjectStore,
  scope: string,
  previous: ChunkedManifest | undefined,
  known: ReadonlyMap<string, KnownChunk>,
  log: Log,
  signal?: AbortSignal,
): Promise<Map<string, ReusedChunk[]>> {
  if (!previous || previous.scope !== scope) return new Map();
  try {
    return reusablePieces(await readChunkIndex(objects, previous, signal), known);
  } catch (err) {
    signal?.throwIfAborted();
    log("warn", `previous index ${previous.indexKey} unreadable: every file is read`, { err });
    return new Map();
  }
}

/** Records which chunks of the new index each piece became ([first, count]). */
export class PieceRecorder {
  readonly pieces: ChunkPiece[] = [];
  private open: { fingerprint: string; first: number } | undefined;

  start(fingerprint: string, chunksSoFar: number): void {
    this.open = { fingerprint, first: chunksSoFar };
  }

  end(chunksSoFar: number): void {
    const open = this.open;
    this.open = undefined;
    if (open && chunksSoFar > open.first) {
      this.pieces.push({ ...open, count: chunksSoFar - open.first });
    }
  }
}
