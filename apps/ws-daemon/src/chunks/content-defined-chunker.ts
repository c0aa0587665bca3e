import { GEAR_TABLE } from "./gear-table.js";

/** Chunk sizes of the format (bytes). Part of the format: changing them loses deduplication. */
export interface ChunkSizes {
  min: number;
  /** The size normalized chunking aims at. */
  average: number;
  max: number;
}

export const DEFAULT_CHUNK_SIZES: ChunkSizes = {
  min: 256 * 1024,
  average: 1024 * 1024,
  max: 4 * 1024 * 1024,
};

/**
 * Masks over the top bits of the 32-bit gear hash (bit k of `(h << 1) + g` depends on the last
 * k + 1 bytes only, so the top bits see the whole 32-byte window). Normalized chunking (FastCDC):
 * before the average size a cut needs two bits more than log2(average) to be zero (cuts rarer),
 * after it two bits fewer (cuts likelier), which narrows the size distribution around the average.
 */
function topBitsMask(bits: number): number {
  return bits >= 32 ? -1 : ~((1 << (32 - bits)) - 1);
}

/**
 * FastCDC-style content-defined chunking of a byte stream pushed in pieces of any size: the same
 * content gives the same cut points wherever it sits in the stream, so an insertion only changes
 * the chunks around it. Chunks come out as new Buffers, each over an ArrayBuffer of its own.
 */
export class ContentDefinedChunker {
  private readonly maskSmall: number;
  private readonly maskLarge: number;
  private current: Buffer;
  private used = 0;
  private hash = 0;

  constructor(
    private readonly onChunk: (chunk: Buffer) => void,
    private readonly sizes: ChunkSizes = DEFAULT_CHUNK_SIZES,
  ) {
    if (!(sizes.min > 0 && sizes.min <= sizes.average && sizes.average <= sizes.max)) {
      throw new RangeError(
        `chunk sizes must satisfy 0 < min <= average <= max: ${JSON.stringify(sizes)}`,
      );
    }
    const bits = Math.round(Math.log2(sizes.average));
    this.maskSmall = topBitsMask(bits + 2);
    this.maskLarge = topBitsMask(Math.max(1, bits - 2));
    this.current = Buffer.allocUnsafe(sizes.max);
  }

  push(data: Buffer): void {
    const { min, average, max } = this.sizes;
    let off = 0;
    while (off < data.length) {
      // bytes before `min` never hold a cut: copy them without hashing
      if (this.used < min) {
        const n = Math.min(min - this.used, data.length - off);
        data.copy(this.current, this.used, off, off + n);
        this.used += n;
        off += n;
        continue;
      }
      const start = off;
      const end = Math.min(data.length, off + (max - this.used));
      const normalEnd = Math.min(end, off + Math.max(0, average - this.used));
      let cut = scanForCut(data, start, normalEnd, this.maskSmall, this.hash);
      if (cut < 0) cut = scanForCut(data, normalEnd, end, this.maskLarge, scannedHash);
      const stop = cut < 0 ? end : cut;
      data.copy(this.current, this.used, start, stop);
      this.used += stop - start;
      off = stop;
      this.hash = scannedHash;
      if (cut >= 0 || this.used === max) this.emit();
    }
  }

  /** Ends the current chunk here (if it holds anything): the next byte starts a new one. */
  cut(): void {
    if (this.used > 0) this.emit();
  }

  /** Emits what is left as the last chunk. */
  end(): void {
    this.cut();
  }

  private emit(): void {
    // a Buffer of its own ArrayBuffer (never Node's shared pool), so it can be transferred
    const chunk = Buffer.from(new ArrayBuffer(this.used));
    this.current.copy(chunk, 0, 0, this.used);
    this.used = 0;
    this.hash = 0;
    this.onChunk(chunk);
  }
}

/** The gear hash after the last scanForCut (a module variable: the hot loop returns one number). */
let scannedHash = 0;

/**
 * Rolls the gear hash from `hash` over data[start, end) and returns the index just after the
 * first byte where (hash & mask) is 0, or -1; the hash reached is left in `scannedHash`. Kept a
 * small monomorphic function: V8 compiles it to a tight loop (~3x faster than the same loop
 * inside a method reading fields).
 */
function scanForCut(
  data: Uint8Array,
  start: number,
  end: number,
  mask: number,
  hash: number,
): number {
  const gear = GEAR_TABLE;
  let h = hash;
  for (let i = start; i < end; i++) {
    h = ((h << 1) + (gear[data[i] as number] as number)) | 0;
    if ((h & mask) === 0) {
      scannedHash = h;
      return i + 1;
    }
  }
  scannedHash = h;
  return -1;
}
