import { describe, expect, it } from "vitest";
import type { ChunkIndex, ChunkRef } from "../../src/chunks/index.js";
import { planFrameReads } from "../../src/storage/frame-plan.js";

const SHA = "0".repeat(64);
const framed = (pack: number, offset: number, length: number): ChunkRef => ({
  pack,
  offset: 0,
  length: 1,
  sha256: SHA,
  frame: { offset, length },
});
const unframed = (pack: number): ChunkRef => ({ pack, offset: 0, length: 1, sha256: SHA });
const indexOf = (chunks: ChunkRef[]): ChunkIndex => ({
  packs: [
    { key: "a", rawSize: 1, size: 1000, framed: true },
    { key: "b", rawSize: 1, size: 1000, framed: true },
    { key: "c", rawSize: 1, size: 1000 },
  ],
  chunks,
  entries: 0,
  tarBytes: chunks.length,
});
const plan = (chunks: ChunkRef[], maxReadBytes = 100, maxGapBytes = 10) =>
  planFrameReads(indexOf(chunks), { maxReadBytes, maxGapBytes }).map((r) => ({
    pack: r.pack,
    start: r.start,
    length: r.length,
    chunks: r.chunks.map((c) => [c.chunk, c.at, c.length]),
  }));

describe("planFrameReads", () => {
  it("joins frames that follow each other, across gaps up to the limit", () => {
    expect(plan([framed(0, 0, 30), framed(0, 30, 20), framed(0, 60, 20)])).toEqual([
      {
        pack: 0,
        start: 0,
        length: 80,
        chunks: [
          [0, 0, 30],
          [1, 30, 20],
          [2, 60, 20],
        ],
      },
    ]);
  });

  it("starts a new read after a large gap, a backwards frame, another pack or the size limit", () => {
    const reads = plan([
      framed(0, 0, 30),
      framed(0, 50, 10), // gap 20 > 10
      framed(0, 0, 10), // backwards (a chunk named again)
      framed(1, 10, 10), // another pack
      framed(1, 20, 95), // would make the read 105 > 100
    ]);
    expect(reads.map((r) => [r.pack, r.start, r.length])).toEqual([
      [0, 0, 30],
      [0, 50, 10],
      [0, 0, 10],
      [1, 10, 10],
      [1, 20, 95],
    ]);
  });

  it("serves only consecutive chunks of the stream per read and skips unframed chunks", () => {
    const reads = plan([framed(0, 0, 10), unframed(2), framed(0, 10, 10), framed(0, 20, 10)]);
    expect(reads.map((r) => r.chunks.map((c) => c[0]))).toEqual([[0], [2, 3]]);
  });

  it("reads a frame larger than the limit alone", () => {
    expect(plan([framed(0, 0, 500), framed(0, 500, 5)], 100).map((r) => r.length)).toEqual([
      500, 5,
    ]);
  });
});
