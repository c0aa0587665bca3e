import path from "node:path";

/** One line of wsd-chunker's report (native/README.md), in stream order. */
export type NativeChunkEvent =
  | {
      kind: "chunk";
      /** sha256 (hex). */
      id: string;
      length: number;
      /** known: stored before; dup: new earlier in this stream; reused: named by an R record. */
      dedup: "known" | "dup" | "reused";
    }
  | {
      kind: "chunk";
      id: string;
      length: number;
      dedup: "new";
      /** The chunker's pack number (0, 1, ...), sealed later in the report. */
      pack: number;
      /** Offset in the pack's decompressed bytes. */
      offset: number;
      /** The chunk's own zstd frame in the pack file. */
      frameOffset: number;
      frameLength: number;
    }
  | { kind: "piece-start"; fingerprint: string }
  | { kind: "piece-end" }
  | { kind: "sealed"; pack: number; file: string; rawSize: number; size: number };

/** The native walk's lines (`--walk`): progress, warnings and its summary before the end. */
export type NativeWalkLine =
  | { kind: "walking"; entries: number; bytes: number; plannedBytes: number }
  | { kind: "warning"; text: string }
  | {
      kind: "walked";
      entries: number;
      bytes: number;
      plannedBytes: number;
      readBytes: number;
      skippedBytes: number;
    };

export type NativeChunkerLine =
  | NativeChunkEvent
  | NativeWalkLine
  | { kind: "end"; dataBytes: number; reusedBytes: number };

const HEX = /^(?:[0-9a-f]{2})+$/;

const SHA256_HEX = /^[0-9a-f]{64}$/;
const COUNT = /^(0|[1-9][0-9]{0,15})$/;
const PACK_FILE = /^pack-(0|[1-9][0-9]{0,15})\.zst$/;

function count(s: string | undefined, line: string): number {
  if (s === undefined || !COUNT.test(s)) throw badLine(line);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw badLine(line);
  return n;
}

function sha256(s: string | undefined, line: string): string {
  if (s === undefined || !SHA256_HEX.test(s)) throw badLine(line);
  return s;
}

function badLine(line: string): Error {
  return new Error(
    `the native chunker reported an unexpected line: ${JSON.stringify(line.slice(0, 200))}`,
  );
}

/** Parses one report line strictly (the report is ours, but a bug must not become an index). */
export function parseNativeChunkerLine(line: string, packDir: string): NativeChunkerLine {
  const f = line.split(" ");
  switch (f[0]) {
    case "chunk": {
      const id = sha256(f[1], line);
      const length = count(f[2], line);
      if (length === 0) throw badLine(line);
      const dedup = f[3];
      if ((dedup === "known" || dedup === "dup" || dedup === "reused") && f.length === 4)
        return { kind: "chunk", id, length, dedup };
      if (dedup === "new" && f.length === 8) {
        const frameLength = count(f[7], line);
        if (frameLength === 0) throw badLine(line);
        return {
          kind: "chunk",
          id,
          length,
          dedup,
          pack: count(f[4], line),
          offset: count(f[5], line),
          frameOffset: count(f[6], line),
          frameLength,
        };
      }
      throw badLine(line);
    }
    case "piece-start":
      if (f.length !== 2) throw badLine(line);
      return { kind: "piece-start", fingerprint: sha256(f[1], line) };
    case "piece-end":
      if (f.length !== 1) throw badLine(line);
      return { kind: "piece-end" };
    case "sealed": {
      const name = f[2];
      const pack = count(f[1], line);
      if (
        f.length !== 5 ||
        name === undefined ||
        name !== `pack-${pack}.zst` ||
        !PACK_FILE.test(name)
      )
        throw badLine(line);
      return {
        kind: "sealed",
        pack,
        file: path.join(packDir, name),
        rawSize: count(f[3], line),
        size: count(f[4], line),
      };
    }
    case "walking":
      if (f.length !== 4) throw badLine(line);
      return {
        kind: "walking",
        entries: count(f[1], line),
        bytes: count(f[2], line),
        plannedBytes: count(f[3], line),
      };
    case "warning":
      if (f.length !== 2 || !HEX.test(f[1] ?? "")) throw badLine(line);
      return { kind: "warning", text: Buffer.from(f[1] ?? "", "hex").toString("utf8") };
    case "walked":
      if (f.length !== 6) throw badLine(line);
      return {
        kind: "walked",
        entries: count(f[1], line),
        bytes: count(f[2], line),
        plannedBytes: count(f[3], line),
        readBytes: count(f[4], line),
        skippedBytes: count(f[5], line),
      };
    case "end":
      if (f.length !== 3) throw badLine(line);
      return { kind: "end", dataBytes: count(f[1], line), reusedBytes: count(f[2], line) };
    default:
      throw badLine(line);
  }
}
