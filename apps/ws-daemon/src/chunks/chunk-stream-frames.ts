/**
 * The framed stream a tree walk writes for a chunker (the JS chunk worker or the native
 * wsd-chunker, which must agree byte for byte). Besides the tar bytes it carries what only the
 * walk knows: where a piece whose bytes it can predict from metadata starts and ends, and which
 * already stored chunks stand for a piece it did not read. Records (integers little-endian):
 *
 *   'D' u32 n, n bytes         tar stream bytes (1 <= n <= MAX_DATA_FRAME_BYTES)
 *   'C'                        cut: the current chunk ends here (if it holds anything)
 *   'P' 32 bytes fingerprint   a piece starts here (implies a cut)
 *   'Q'                        the open piece ends here (implies a cut)
 *   'R' u32 count, count x (32 bytes sha256, u32 length)
 *                              the next stream bytes are exactly these stored chunks; only as the
 *                              whole content of a piece (P R Q)
 *
 * The end of the stream is the end of its input.
 */

export const FRAME_DATA = 0x44;
export const FRAME_CUT = 0x43;
export const FRAME_PIECE_START = 0x50;
export const FRAME_PIECE_END = 0x51;
export const FRAME_REUSE = 0x52;

export const MAX_DATA_FRAME_BYTES = 16 * 1024 * 1024;
/** Chunks one reuse record may name (a 4 GiB piece of minimum-size chunks is far below). */
export const MAX_REUSE_CHUNKS = 1 << 20;

export interface ReusedChunk {
  /** sha256, hex. */
  id: string;
  length: number;
}

export function dataFrameHeader(length: number): Buffer {
  if (!(length >= 1 && length <= MAX_DATA_FRAME_BYTES))
    throw new RangeError(`a data frame holds 1..${MAX_DATA_FRAME_BYTES} bytes, not ${length}`);
  const h = Buffer.allocUnsafe(5);
  h[0] = FRAME_DATA;
  h.writeUInt32LE(length, 1);
  return h;
}

export function cutFrame(): Buffer {
  return Buffer.of(FRAME_CUT);
}

export function pieceStartFrame(fingerprintHex: string): Buffer {
  const fp = Buffer.from(fingerprintHex, "hex");
  if (fp.length !== 32) throw new RangeError("a piece fingerprint is 32 bytes");
  return Buffer.concat([Buffer.of(FRAME_PIECE_START), fp]);
}

export function pieceEndFrame(): Buffer {
  return Buffer.of(FRAME_PIECE_END);
}

export function reuseFrame(chunks: readonly ReusedChunk[]): Buffer {
  if (chunks.length === 0 || chunks.length > MAX_REUSE_CHUNKS)
    throw new RangeError(`a reuse frame names 1..${MAX_REUSE_CHUNKS} chunks`);
  const out = Buffer.allocUnsafe(5 + chunks.length * 36);
  out[0] = FRAME_REUSE;
  out.writeUInt32LE(chunks.length, 1);
  let at = 5;
  for (const c of chunks) {
    if (out.write(c.id, at, 32, "hex") !== 32) throw new RangeError(`bad chunk id ${c.id}`);
    out.writeUInt32LE(c.length, at + 32);
    at += 36;
  }
  return out;
}

export interface ChunkStreamHandler {
  data(bytes: Buffer): void;
  cut(): void;
  pieceStart(fingerprintHex: string): void;
  pieceEnd(): void;
  reuse(chunks: ReusedChunk[]): void;
}

/**
 * Decodes the framed stream from reads of any size. Data is passed on as views of the pushed
 * buffers (valid only during the call); anything malformed throws, naming the stream offset.
 */
export class ChunkStreamDecoder {
  /** Bytes of the current data frame still to come. */
  private dataLeft = 0;
  /** A record header (or reuse list) split across reads. */
  private pending: Buffer = Buffer.alloc(0);
  private offset = 0;
  private inPiece = false;
  private pieceHasReuse = false;
  private pieceHasData = false;

  constructor(private readonly handler: ChunkStreamHandler) {}

  push(input: Buffer): void {
    let buf = input;
    while (buf.length > 0) {
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, buf.length);
        this.handler.data(buf.subarray(0, n));
        this.dataLeft -= n;
        this.offset += n;
        buf = buf.subarray(n);
        continue;
      }
      if (this.pending.length > 0) buf = Buffer.concat([this.pending, buf]);
      const used = this.record(buf);
      if (used < 0) {
        this.pending = Buffer.from(buf);
        return;
      }
      this.pending = Buffer.alloc(0);
      this.offset += used;
      buf = buf.subarray(used);
    }
  }

  /** The input ended: a record cut short or a piece left open is an error. */
  end(): void {
    if (this.dataLeft > 0 || this.pending.length > 0)
      throw this.malformed("the stream ends inside a record");
    if (this.inPiece) throw this.malformed("the stream ends inside a piece");
  }

  /** Handles the record at the start of `buf`; returns the bytes it took, or -1 when incomplete. */
  private record(buf: Buffer): number {
    const type = buf[0];
    switch (type) {
      case FRAME_DATA: {
        if (buf.length < 5) return -1;
        const n = buf.readUInt32LE(1);
        if (n < 1 || n > MAX_DATA_FRAME_BYTES) throw this.malformed(`data frame of ${n} bytes`);
        if (this.pieceHasReuse) throw this.malformed("data inside a reused piece");
        this.pieceHasData = this.inPiece;
        this.dataLeft = n;
        return 5;
      }
      case FRAME_CUT:
        this.handler.cut();
        return 1;
      case FRAME_PIECE_START: {
        if (buf.length < 33) return -1;
        if (this.inPiece) throw this.malformed("a piece starts inside a piece");
        this.inPiece = true;
        this.pieceHasReuse = false;
        this.pieceHasData = false;
        this.handler.pieceStart(buf.toString("hex", 1, 33));
        return 33;
      }
      case FRAME_PIECE_END:
        if (!this.inPiece) throw this.malformed("a piece ends that never started");
        this.inPiece = false;
        this.pieceHasReuse = false;
        this.handler.pieceEnd();
        return 1;
      case FRAME_REUSE: {
        if (buf.length < 5) return -1;
        const count = buf.readUInt32LE(1);
        if (count < 1 || count > MAX_REUSE_CHUNKS)
          throw this.malformed(`reuse frame of ${count} chunks`);
        if (!this.inPiece || this.pieceHasData || this.pieceHasReuse)
          throw this.malformed("a reuse frame that is not the whole content of a piece");
        if (buf.length < 5 + count * 36) return -1;
        const chunks: ReusedChunk[] = [];
        for (let at = 5; at < 5 + count * 36; at += 36) {
          const length = buf.readUInt32LE(at + 32);
          if (length === 0) throw this.malformed("a reused chunk of length 0");
          chunks.push({ id: buf.toString("hex", at, at + 32), length });
        }
        this.pieceHasReuse = true;
        this.handler.reuse(chunks);
        return 5 + count * 36;
      }
      default:
        throw this.malformed(`unknown record type ${type}`);
    }
  }

  private malformed(why: string): Error {
    return new Error(`malformed chunk stream at byte ${this.offset}: ${why}`);
  }
}
