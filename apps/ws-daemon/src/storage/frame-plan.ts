import type { ChunkIndex } from "../chunks/index.js";

/** One ranged GET of a framed pack: stored bytes [start, start + length) holding whole frames. */
export interface FrameRead {
  /** Position of the pack in the index's `packs`. */
  pack: number;
  start: number;
  length: number;
  /** The chunks it serves, in stream order: their positions in the index and frames in the read. */
  chunks: { chunk: number; at: number; length: number }[];
}

export interface FramePlanOptions {
  /** A read grows by the next frame only while it stays within this many bytes. */
  maxReadBytes: number;
  /** Bytes between two frames that are read and dropped rather than starting a new request. */
  maxGapBytes: number;
  /** Packs whose frames are not fetched by ranged reads (the unchunk helper reads their files). */
  skipPacks?: ReadonlySet<number> | undefined;
}

/**
 * The ranged reads that fetch the frames of the index's chunks in framed packs, in stream order:
 * a chunk that follows the previous chunk of the stream and whose frame follows that chunk's frame
 * in the same pack (directly or after a gap of at most maxGapBytes) joins its read (so a read
 * serves a run of consecutive chunks), unless that read would outgrow maxReadBytes. A single
 * frame larger than that is read alone. Chunks of unframed packs, and of `skipPacks`, are not
 * planned here.
 */
export function planFrameReads(index: ChunkIndex, options: FramePlanOptions): FrameRead[] {
  const reads: FrameRead[] = [];
  let current: FrameRead | undefined;
  index.chunks.forEach((c, i) => {
    if (!c.frame || options.skipPacks?.has(c.pack)) return;
    const end = current ? current.start + current.length : 0;
    const gap = c.frame.offset - end;
    if (
      current &&
      current.chunks[current.chunks.length - 1]?.chunk === i - 1 &&
      current.pack === c.pack &&
      gap >= 0 &&
      gap <= options.maxGapBytes &&
      current.length + gap + c.frame.length <= options.maxReadBytes
    ) {
      current.chunks.push({ chunk: i, at: end + gap - current.start, length: c.frame.length });
      current.length += gap + c.frame.length;
      return;
    }
    current = {
      pack: c.pack,
      start: c.frame.offset,
      length: c.frame.length,
      chunks: [{ chunk: i, at: 0, length: c.frame.length }],
    };
    reads.push(current);
  });
  return reads;
}
