/**
 * Sparse files in the archive, as GNU tar writes them in pax archives (format "GNU sparse 1.0",
 * which GNU tar and bsdtar restore): pax records GNU.sparse.major=1, GNU.sparse.minor=0,
 * GNU.sparse.name (the real name) and GNU.sparse.realsize (the size with holes); the entry's
 * content starts with the map of data segments in decimal lines ("count\n" then "offset\nsize\n"
 * per segment), padded to a whole block, followed by the data of the segments back to back.
 * Holes are neither read nor stored, and a restore recreates them (positioned writes, then
 * ftruncate to the real size).
 */
import { BLOCK } from "./tar-header.js";

export interface Segment {
  offset: number;
  size: number;
}

/**
 * Most segments in one map, on both sides: the writer merges everything after this many into one
 * data segment, the parser refuses longer maps. Bounds the map to about 2.5 MB.
 */
export const MAX_SPARSE_SEGMENTS = 65_536;

/** The map block(s) of a sparse entry: `segments`, closed by (realSize, 0) if it ends in a hole. */
export function encodeSparseMap(segments: readonly Segment[], realSize: number): Buffer {
  const all = [...segments];
  const last = all[all.length - 1];
  // GNU tar closes a map that ends in a hole with an empty segment at the real size
  if (last === undefined || last.offset + last.size < realSize)
    all.push({ offset: realSize, size: 0 });
  const text = `${all.length}\n${all.map((s) => `${s.offset}\n${s.size}\n`).join("")}`;
  const out = Buffer.alloc(Math.ceil(text.length / BLOCK) * BLOCK);
  out.write(text, "latin1");
  return out;
}

/** Why a sparse map cannot be used; the parser turns it into a format error. */
export class SparseMapError extends Error {
  override name = "SparseMapError";
}

/**
 * Reads a sparse map block by block as it arrives (push() returns true once it is complete) and
 * checks it: decimal numbers only, at most MAX_SPARSE_SEGMENTS, segments in order without overlap
 * and inside the real size.
 */
export class SparseMapReader {
  readonly segments: Segment[] = [];
  /** Bytes of the map, whole blocks. */
  bytes = 0;
  private line = "";
  private count: number | undefined;
  private offset: number | undefined;
  private end = 0;

  constructor(readonly realSize: number) {}

  /** The sum of the segments' sizes: the data that follows the map. */
  get dataBytes(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0);
  }

  /** Takes the next block of the map; true once the map is complete (the rest of it is padding). */
  push(block: Buffer): boolean {
    this.bytes += block.length;
    for (const byte of block) {
      // padding only follows a complete map
      if (byte === 0) throw new SparseMapError("sparse map cut short");
      if (byte !== 0x0a) {
        if (this.line.length >= 20) throw new SparseMapError("sparse map number too long");
        this.line += String.fromCharCode(byte);
        continue;
      }
      if (this.take(this.number(this.line))) return true;
      this.line = "";
    }
    return false;
  }

  private number(text: string): number {
    const value = Number(text);
    if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(value)) {
      throw new SparseMapError(`invalid number ${JSON.stringify(text)} in sparse map`);
    }
    return value;
  }

  /** One number of the map; true when it was the last. */
  private take(value: number): boolean {
    if (this.count === undefined) {
      if (value > MAX_SPARSE_SEGMENTS) {
        throw new SparseMapError(
          `sparse map of ${value} segments (at most ${MAX_SPARSE_SEGMENTS})`,
        );
      }
      this.count = value;
      return value === 0;
    }
    if (this.offset === undefined) {
      this.offset = value;
      return false;
    }
    const segment = { offset: this.offset, size: value };
    this.offset = undefined;
    if (segment.offset < this.end || segment.offset + segment.size > this.realSize) {
      throw new SparseMapError(
        `sparse segment ${segment.offset}+${segment.size} overlaps or lies beyond the file`,
      );
    }
    this.end = segment.offset + segment.size;
    this.segments.push(segment);
    return this.segments.length === this.count;
  }
}
