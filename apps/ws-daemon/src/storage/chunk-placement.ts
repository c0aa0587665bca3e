import type { TarWriteSummary } from "../archive/index.js";
import type { ChunkFrame, ChunkPiece } from "../chunks/index.js";
import type { KnownChunk } from "./chunk-catalog.js";
import type { StoredPack } from "./pack-writer.js";

/** Where one chunk of the tar stream lies, before the index numbers the packs. */
export interface ChunkPlacement {
  packKey: string;
  offset: number;
  length: number;
  sha256: string;
  /** Its own zstd frame, when the pack is framed. */
  frame?: ChunkFrame | undefined;
}

/** What a chunker (the JavaScript one or wsd-chunker) made of a tree. */
export interface ProducedChunks {
  /** Every chunk of the tar stream, in order. */
  refs: ChunkPlacement[];
  /** The packs this backup stored, each verified. */
  stored: StoredPack[];
  summary: TarWriteSummary;
  pieces?: ChunkPiece[] | undefined;
  storedBytes: () => number;
}

export function placementOf(hit: KnownChunk, sha256: string): ChunkPlacement {
  return {
    packKey: hit.packKey,
    offset: hit.offset,
    length: hit.length,
    sha256,
    ...(hit.frame ? { frame: hit.frame } : {}),
  };
}
