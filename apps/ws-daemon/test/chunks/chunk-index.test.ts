import { describe, expect, it } from "vitest";
import { type ChunkIndex, encodeChunkIndex, parseChunkIndex } from "../../src/chunks/index.js";
import { ContentCorruptError } from "../../src/platform/index.js";

const A = "a".repeat(64);
const B = "b".repeat(64);

const plain: ChunkIndex = {
  packs: [{ key: "chunks/owners/o/packs/p1.pack", rawSize: 300, size: 120 }],
  chunks: [
    { pack: 0, offset: 0, length: 100, sha256: A },
    { pack: 0, offset: 100, length: 200, sha256: B },
  ],
  entries: 3,
  tarBytes: 300,
};

const framed: ChunkIndex = {
  packs: [
    { key: "chunks/owners/o/packs/p1.pack", rawSize: 300, size: 120 },
    { key: "chunks/owners/o/packs/p2.pack", rawSize: 50, size: 40, framed: true },
  ],
  chunks: [
    { pack: 0, offset: 0, length: 100, sha256: A },
    { pack: 1, offset: 0, length: 50, sha256: B, frame: { offset: 0, length: 40 } },
  ],
  entries: 2,
  tarBytes: 150,
  pieces: [{ fingerprint: B, first: 1, count: 1 }],
};

function reencode(json: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify(json));
}

function parseWith(index: ChunkIndex, change: (json: Record<string, unknown>) => void) {
  const json = JSON.parse(encodeChunkIndex(index).toString("utf8")) as Record<string, unknown>;
  change(json);
  return () => parseChunkIndex(reencode(json), "test-index");
}

describe("chunk index", () => {
  it("writes an index without framed packs or pieces as version 1, which the previous release reads", () => {
    const json = JSON.parse(encodeChunkIndex(plain).toString("utf8")) as { formatVersion: number };
    expect(json.formatVersion).toBe(1);
    expect(parseChunkIndex(encodeChunkIndex(plain), "x")).toEqual(plain);
  });

  it("round-trips framed packs and pieces as version 2", () => {
    const bytes = encodeChunkIndex(framed);
    expect((JSON.parse(bytes.toString("utf8")) as { formatVersion: number }).formatVersion).toBe(2);
    expect(parseChunkIndex(bytes, "x")).toEqual(framed);
  });

  it("refuses version-2 features in a version-1 index", () => {
    expect(parseWith(framed, (j) => (j.formatVersion = 1))).toThrow(/format version 1/);
  });

  it("refuses a chunk of a framed pack without its frame, and a frame in an unframed pack", () => {
    expect(
      parseWith(framed, (j) => {
        (j.chunks as unknown[][])[1] = (j.chunks as unknown[][])[1]?.slice(0, 4) ?? [];
      }),
    ).toThrow(/has no frame/);
    expect(
      parseWith(framed, (j) => {
        (j.chunks as unknown[][])[0]?.push(0, 10);
      }),
    ).toThrow(/unframed pack/);
  });

  it("refuses a frame outside the pack's stored bytes or of length zero", () => {
    const frameAt = (offset: number, length: number) =>
      parseWith(framed, (j) => {
        const c = (j.chunks as unknown[][])[1] ?? [];
        c[4] = offset;
        c[5] = length;
      });
    expect(frameAt(1, 40)).toThrow(ContentCorruptError);
    expect(frameAt(0, 41)).toThrow(/outside pack/);
    expect(frameAt(0, 0)).toThrow(/outside pack/);
    expect(frameAt(0, 40)).not.toThrow();
  });

  it("refuses pieces that overlap, go backwards, are empty or reach past the chunk list", () => {
    const withPieces = (pieces: unknown[]) => parseWith(framed, (j) => (j.pieces = pieces));
    expect(
      withPieces([
        [A, 0, 1],
        [B, 1, 1],
      ]),
    ).not.toThrow();
    expect(
      withPieces([
        [A, 0, 2],
        [B, 1, 1],
      ]),
    ).toThrow(/piece 1/);
    expect(
      withPieces([
        [A, 1, 1],
        [B, 0, 1],
      ]),
    ).toThrow(/piece 1/);
    expect(withPieces([[A, 0, 0]])).toThrow(/piece 0/);
    expect(withPieces([[A, 1, 2]])).toThrow(/piece 0/);
    expect(withPieces([["zz", 0, 1]])).toThrow(ContentCorruptError);
  });

  it("still refuses what version 1 refused: chunks outside their pack, sums that do not add up", () => {
    expect(parseWith(plain, (j) => ((j.chunks as unknown[][])[1] = [0, 101, 200, B]))).toThrow(
      /outside pack/,
    );
    expect(parseWith(plain, (j) => (j.tarBytes = 299))).toThrow(/add up/);
    expect(parseWith(plain, (j) => ((j.chunks as unknown[][])[0] = [1, 0, 100, A]))).toThrow(
      /names pack 1/,
    );
  });
});
