import { z } from "zod";
import { ContentCorruptError } from "../platform/index.js";
import { DEFAULT_CHUNK_SIZES } from "./content-defined-chunker.js";

export const CHUNK_INDEX_FORMAT_VERSION = 1;

/** A chunk of the tar stream: bytes [offset, offset + length) of pack `pack`'s decompressed data. */
export interface ChunkRef {
  /** Position in the index's `packs`. */
  pack: number;
  offset: number;
  length: number;
  /** sha256 (hex) of the chunk: its id, verified on every restore. */
  sha256: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const indexSchema = z
  .object({
    formatVersion: z.literal(CHUNK_INDEX_FORMAT_VERSION),
    kind: z.literal("wsd-chunk-index"),
    /** Packs the archive's chunks live in: object key, decompressed and stored bytes. */
    packs: z.array(
      z.object({ key: z.string().min(1).max(1024), rawSize: count, size: count }).strict(),
    ),
    /** The tar stream, in order: [pack, offset, length, sha256]. */
    chunks: z.array(z.tuple([count, count, count, z.string().regex(SHA256_HEX)])),
    /** Entries of the tar stream (files, directories, links). */
    entries: count,
    /** Bytes of the tar stream: the sum of the chunk lengths. */
    tarBytes: count,
  })
  .strict();

/** Everything a restore needs to rebuild an archive's tar stream from packs. */
export interface ChunkIndex {
  packs: { key: string; rawSize: number; size: number }[];
  chunks: ChunkRef[];
  entries: number;
  tarBytes: number;
}

export function encodeChunkIndex(index: ChunkIndex): Buffer {
  return Buffer.from(
    JSON.stringify({
      formatVersion: CHUNK_INDEX_FORMAT_VERSION,
      kind: "wsd-chunk-index",
      packs: index.packs,
      chunks: index.chunks.map((c) => [c.pack, c.offset, c.length, c.sha256]),
      entries: index.entries,
      tarBytes: index.tarBytes,
    }),
    "utf8",
  );
}

/**
 * Parses and checks an index: every chunk inside a listed pack's declared bytes, no chunk longer
 * than the format allows, lengths adding up to the tar size. Anything else is ContentCorruptError.
 */
export function parseChunkIndex(bytes: Buffer, where: string): ChunkIndex {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new ContentCorruptError(`chunk index ${where} is not JSON: ${(err as Error).message}`);
  }
  const parsed = indexSchema.safeParse(json);
  if (!parsed.success) {
    throw new ContentCorruptError(`chunk index ${where} is invalid: ${parsed.error.message}`);
  }
  const { packs, entries, tarBytes } = parsed.data;
  const bad = (why: string) => new ContentCorruptError(`chunk index ${where} is invalid: ${why}`);
  let total = 0;
  const chunks = parsed.data.chunks.map(([pack, offset, length, sha256], i): ChunkRef => {
    const p = packs[pack];
    if (!p) throw bad(`chunk ${i} names pack ${pack} of ${packs.length}`);
    if (length === 0 || length > DEFAULT_CHUNK_SIZES.max)
      throw bad(`chunk ${i} has length ${length}`);
    if (offset + length > p.rawSize) throw bad(`chunk ${i} lies outside pack ${p.key}`);
    total += length;
    return { pack, offset, length, sha256 };
  });
  if (total !== tarBytes) throw bad(`chunks add up to ${total} bytes, not ${tarBytes}`);
  return { packs, chunks, entries, tarBytes };
}
