import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ContentDefinedChunker, DEFAULT_CHUNK_SIZES } from "../../src/chunks/index.js";

/** Chunks of `data` pushed in pieces of `piece` bytes. */
function chunksOf(data: Buffer, piece = 65_536): Buffer[] {
  const out: Buffer[] = [];
  const chunker = new ContentDefinedChunker((c) => out.push(c));
  for (let off = 0; off < data.length; off += piece) chunker.push(data.subarray(off, off + piece));
  chunker.end();
  return out;
}

const ids = (chunks: Buffer[]) => chunks.map((c) => createHash("sha256").update(c).digest("hex"));

describe("ContentDefinedChunker", () => {
  const data = randomBytes(24 * 1024 * 1024);

  it("cuts the stream into chunks that add up to it, within the size bounds, around the average", () => {
    const chunks = chunksOf(data);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    for (const c of chunks.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(DEFAULT_CHUNK_SIZES.min);
      expect(c.length).toBeLessThanOrEqual(DEFAULT_CHUNK_SIZES.max);
    }
    const average = data.length / chunks.length;
    expect(average).toBeGreaterThan(0.6 * DEFAULT_CHUNK_SIZES.average);
    expect(average).toBeLessThan(1.6 * DEFAULT_CHUNK_SIZES.average);
    // every chunk owns its memory (it is transferred between threads)
    for (const c of chunks)
      expect(c.byteOffset === 0 && c.buffer.byteLength === c.length).toBe(true);
  });

  it("cuts the same bytes the same way however they are pushed", () => {
    expect(ids(chunksOf(data, 1000))).toEqual(ids(chunksOf(data, 3 * 1024 * 1024 + 7)));
  });

  it("resynchronizes after an insertion: only the chunks around it change", () => {
    const before = ids(chunksOf(data));
    const at = 10 * 1024 * 1024;
    const edited = Buffer.concat([
      data.subarray(0, at),
      Buffer.from("inserted"),
      data.subarray(at),
    ]);
    const after = new Set(ids(chunksOf(edited)));
    const kept = before.filter((id) => after.has(id)).length;
    expect(kept).toBeGreaterThanOrEqual(before.length - 2);
  });

  it("cuts runs of one byte at the maximum size and never emits an empty chunk", () => {
    const zeros = Buffer.alloc(9 * 1024 * 1024);
    const chunks = chunksOf(zeros);
    expect(chunks.map((c) => c.length)).toEqual([
      DEFAULT_CHUNK_SIZES.max,
      DEFAULT_CHUNK_SIZES.max,
      1024 * 1024,
    ]);
    expect(chunksOf(Buffer.alloc(0))).toEqual([]);
  });
});
