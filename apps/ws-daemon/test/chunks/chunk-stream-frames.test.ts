import { describe, expect, it } from "vitest";
import {
  ChunkStreamDecoder,
  cutFrame,
  dataFrameHeader,
  pieceEndFrame,
  pieceStartFrame,
  type ReusedChunk,
  reuseFrame,
} from "../../src/chunks/index.js";

const FP = "f".repeat(64);
const reused: ReusedChunk[] = [
  { id: "1".repeat(64), length: 300_000 },
  { id: "2".repeat(64), length: 7 },
];

function decodeAll(stream: Buffer, step: number): string[] {
  const events: string[] = [];
  let data = "";
  const flush = () => {
    if (data) events.push(`D:${data}`);
    data = "";
  };
  const event = (e: string) => {
    flush();
    events.push(e);
  };
  const d = new ChunkStreamDecoder({
    data: (b) => {
      data += b.toString("latin1");
    },
    cut: () => event("C"),
    pieceStart: (fp) => event(`P:${fp.slice(0, 4)}`),
    pieceEnd: () => event("Q"),
    reuse: (c) => events.push(`R:${c.map((x) => `${x.id.slice(0, 2)}/${x.length}`).join(",")}`),
  });
  for (let at = 0; at < stream.length; at += step) d.push(stream.subarray(at, at + step));
  d.end();
  flush();
  return events;
}

const data = (s: string) => Buffer.concat([dataFrameHeader(s.length), Buffer.from(s, "latin1")]);

describe("the framed chunk stream", () => {
  const stream = Buffer.concat([
    data("header"),
    cutFrame(),
    pieceStartFrame(FP),
    data("body-1"),
    data("body-2"),
    pieceEndFrame(),
    pieceStartFrame(FP),
    reuseFrame(reused),
    pieceEndFrame(),
    data("tail"),
  ]);
  const expected = [
    "D:header",
    "C",
    "P:ffff",
    "D:body-1body-2",
    "Q",
    "P:ffff",
    "R:11/300000,22/7",
    "Q",
    "D:tail",
  ];

  it("decodes the same events whatever the read sizes", () => {
    for (const step of [1, 2, 3, 5, 7, 33, 36, 1000])
      expect(decodeAll(stream, step)).toEqual(expected);
  });

  it("refuses malformed streams, naming the offset", () => {
    const bad = (b: Buffer, why: RegExp) => expect(() => decodeAll(b, 4)).toThrow(why);
    bad(Buffer.of(0x99), /unknown record type 153 .*|byte 0/);
    bad(Buffer.concat([data("x"), Buffer.of(0x44, 0, 0, 0, 0)]), /byte 6: data frame of 0 bytes/);
    bad(data("abc").subarray(0, 6), /ends inside a record/);
    bad(pieceStartFrame(FP), /ends inside a piece/);
    bad(pieceEndFrame(), /never started/);
    bad(Buffer.concat([pieceStartFrame(FP), pieceStartFrame(FP)]), /inside a piece/);
    bad(reuseFrame(reused), /whole content of a piece/);
    bad(Buffer.concat([pieceStartFrame(FP), data("x"), reuseFrame(reused)]), /whole content/);
    bad(
      Buffer.concat([pieceStartFrame(FP), reuseFrame(reused), data("x")]),
      /inside a reused piece/,
    );
    bad(
      Buffer.concat([pieceStartFrame(FP), reuseFrame(reused), reuseFrame(reused)]),
      /whole content/,
    );
    const zeroLength = reuseFrame(reused);
    zeroLength.writeUInt32LE(0, 5 + 32);
    bad(Buffer.concat([pieceStartFrame(FP), zeroLength, pieceEndFrame()]), /length 0/);
  });

  it("refuses to encode what it would not decode", () => {
    expect(() => dataFrameHeader(0)).toThrow(RangeError);
    expect(() => reuseFrame([])).toThrow(RangeError);
    expect(() => pieceStartFrame("ab")).toThrow(RangeError);
  });
});
