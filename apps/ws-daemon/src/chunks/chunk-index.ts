import { z } from "zod";
import { ContentCorruptError } from "../platform/index.js";
import { DEFAULT_CHUNK_SIZES } from "./content-defined-chunker.js";

/**
 * Version 1: packs are one zstd stream each. Version 2 adds framed packs (one zstd frame per
 * chunk, so a restore can read a chunk's frame alone) and pieces (the skip cache of the next
 * backup). An index without either is still written as version 1, so a daemon of the previous
 * release reads it.
 */
export const CHUNK_INDEX_FORMAT_VERSION = 2;

/** Where a chunk's own zstd frame lies in a framed pack's stored (compressed) bytes. */
export interface ChunkFrame {
  offset: number;
  length: number;
}

/** A chunk of the tar stream: bytes [offset, offset + length) of pack `pack`'s decompressed data. */
export interface ChunkRef {
  /** Position in the index's `packs`. */
  pack: number;
  offset: number;
  length: number;
  /** sha256 (hex) of the chunk: its id, verified on every restore. */
  sha256: string;
  /** Present exactly when the pack is framed. */
  frame?: ChunkFrame | undefined;
}

export interface PackRef {
  key: string;
  /** Bytes of the concatenated chunks (decompressed). */
  rawSize: number;
  /** Bytes of the stored object. */
  size: number;
  /** One zstd frame per chunk, concatenated (still one valid zstd stream as a whole). */
  framed?: boolean | undefined;
}

/**
 * A run of chunks that holds exactly one piece of the tar stream whose bytes the writer could
 * predict from metadata alone (e.g. a large file's body, identified by path, size, times, inode):
 * the next backup of the same tree reuses the run without reading the piece when the
 * fingerprint matches again.
 */
export interface ChunkPiece {
  /** sha256 (hex) over the metadata that identifies the piece's bytes. */
  fingerprint: string;
  /** Position of the piece's first chunk in `chunks`. */
  first: number;
  count: number;
}

/** Everything a restore needs to rebuild an archive's tar stream from packs. */
export interface ChunkIndex {
  packs: PackRef[];
  chunks: ChunkRef[];
  entries: number;
  tarBytes: number;
  pieces?: ChunkPiece[] | undefined;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const sha256Hex = z.string().regex(SHA256_HEX);

const indexSchema = z
  .object({
    formatVersion: z.union([z.literal(1), z.literal(CHUNK_INDEX_FORMAT_VERSION)]),
    kind: z.literal("wsd-chunk-index"),
    /** Packs the archive's chunks live in: object key, decompressed and stored bytes. */
    packs: z.array(
      z
        .object({
          key: z.string().min(1).max(1024),
          rawSize: count,
          size: count,
          framed: z.literal(true).optional(),
        })
        .strict(),
    ),
    /** The tar stream, in order: [pack, offset, length, sha256] or, in a framed pack, [..., frameOffset, frameLength]. */
    chunks: z.array(
      z.union([
        z.tuple([count, count, count, sha256Hex]),
        z.tuple([count, count, count, sha256Hex, count, count]),
      ]),
    ),
    /** Entries of the tar stream (files, directories, links). */
    entries: count,
    /** Bytes of the tar stream: the sum of the chunk lengths. */
    tarBytes: count,
    /** [fingerprint, first chunk, chunk count], in stream order. */
    pieces: z.array(z.tuple([sha256Hex, count, count])).optional(),
  })
  .strict();

export function encodeChunkIndex(index: ChunkIndex): Buffer {
  const v2 = index.packs.some((p) => p.framed) || index.pieces !== undefined;
  return Buffer.from(
    JSON.stringify({
      formatVersion: v2 ? CHUNK_INDEX_FORMAT_VERSION : 1,
      kind: "wsd-chunk-index",
      packs: index.packs.map((p) =>
        p.framed
          ? { key: p.key, rawSize: p.rawSize, size: p.size, framed: true }
          : { key: p.key, rawSize: p.rawSize, size: p.size },
      ),
      chunks: index.chunks.map((c) =>
        c.frame
          ? [c.pack, c.offset, c.length, c.sha256, c.frame.offset, c.frame.length]
          : [c.pack, c.offset, c.length, c.sha256],
      ),
      entries: index.entries,
      tarBytes: index.tarBytes,
      ...(index.pieces !== undefined && {
        pieces: index.pieces.map((p) => [p.fingerprint, p.first, p.count]),
      }),
    }),
    "utf8",
  );
}

/**
 * Parses and checks an index: every chunk inside a listed pack's declared bytes (and, in a
 * framed pack, its frame inside the stored bytes), no chunk longer than the format allows,
 * lengths adding up to the tar size, pieces in order inside the chunk list. Anything else is
 * ContentCorruptError.
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
  const { entries, tarBytes, formatVersion } = parsed.data;
  const bad = (why: string) => new ContentCorruptError(`chunk index ${where} is invalid: ${why}`);
  const packs: PackRef[] = parsed.data.packs.map((p) =>
    p.framed ? { key: p.key, rawSize: p.rawSize, size: p.size, framed: true } : { ...p },
  );
  if (formatVersion === 1 && (packs.some((p) => p.framed) || parsed.data.pieces)) {
    throw bad("format version 1 has neither framed packs nor pieces");
  }
  let total = 0;
  const chunks = parsed.data.chunks.map((tuple, i): ChunkRef => {
    const [pack, offset, length, sha256] = tuple;
    const p = packs[pack];
    if (!p) throw bad(`chunk ${i} names pack ${pack} of ${packs.length}`);
    if (length === 0 || length > DEFAULT_CHUNK_SIZES.max)
      throw bad(`chunk ${i} has length ${length}`);
    if (offset + length > p.rawSize) throw bad(`chunk ${i} lies outside pack ${p.key}`);
    total += length;
    if (tuple.length === 4) {
      if (p.framed) throw bad(`chunk ${i} in framed pack ${p.key} has no frame`);
      return { pack, offset, length, sha256 };
    }
    const [, , , , frameOffset, frameLength] = tuple;
    if (!p.framed) throw bad(`chunk ${i} has a frame in unframed pack ${p.key}`);
    if (frameLength === 0 || frameOffset + frameLength > p.size)
      throw bad(`chunk ${i}'s frame lies outside pack ${p.key}`);
    return { pack, offset, length, sha256, frame: { offset: frameOffset, length: frameLength } };
  });
  if (total !== tarBytes) throw bad(`chunks add up to ${total} bytes, not ${tarBytes}`);
  const index: ChunkIndex = { packs, chunks, entries, tarBytes };
  if (parsed.data.pieces) {
    let next = 0;
    index.pieces = parsed.data.pieces.map(([fingerprint, first, n], i) => {
      if (n === 0 || first < next || first + n > chunks.length)
        throw bad(`piece ${i} [${first}, +${n}) is out of order or outside the chunk list`);
      next = first + n;
      return { fingerprint, first, count: n };
    });
  }
  return index;
}
